"""The producer side of `mokg stream`: lines of a file (plain or gzip) or of standard input, cut into
batches and handed to a sender (the ``ingest_batch`` task) at a given rate. It does not parse records: the
workers do, so the producer stays cheap and one reject rule holds everywhere."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from mokg.ingest.readers import Line
from mokg.stream.batch import WireLine

Send = Callable[[list[WireLine]], None]


@dataclass
class Produced:
    lines: int = 0
    batches: int = 0
    seconds: float = 0.0


def batches(lines: Iterable[Line], size: int) -> Iterator[list[WireLine]]:
    batch: list[WireLine] = []
    for line in lines:
        batch.append((line.number, line.raw, line.error))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def produce(
    lines: Iterable[Line],
    send: Send,
    *,
    batch_size: int,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Produced:
    """Send ``lines`` in batches of ``batch_size``; with ``rate`` (lines per second), a batch leaves only
    when the lines before it are due, so the stream keeps the rate on average without bursts above it."""
    out = Produced()
    t0 = clock()
    for batch in batches(lines, batch_size):
        if rate:
            wait = t0 + out.lines / rate - clock()
            if wait > 0:
                sleep(wait)
        send(batch)
        out.lines += len(batch)
        out.batches += 1
        if progress is not None:
            progress(out.lines)
    out.seconds = clock() - t0
    return out
