"""The producer side of `mokg stream`: lines of a file (plain or gzip) or of standard input, cut into
batches and handed to a sender (the ``ingest_batch`` task). It does not parse records: the workers do, so
the producer stays cheap and one reject rule holds everywhere.

A batch leaves when it is full or when its first line has waited ``max_wait_s``, so a trickle on standard
input (``tail -f``) is not held back until a batch fills. A thread reads ahead, so a blocking read never
delays a due batch. With ``rate`` the lines are taken at that many per second (a file replayed as a stream).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mokg.ingest.readers import Line
from mokg.stream.batch import WireLine

Send = Callable[[list[WireLine]], None]
_END = object()
# Records per batch at most, by kind. A backlog of reviews drains far faster in large batches (a batch's
# users share co-rated items, and each step has a fixed part: at 10k synthetic users 5,000 reviews took
# 2.2 s, 500 took 0.55 s); an item record can be several KB, so item batches stay small (one task message).
DEFAULT_BATCH = {"reviews": 5000, "meta": 500}


@dataclass
class Produced:
    lines: int = 0
    batches: int = 0
    seconds: float = 0.0


def _read_ahead(lines: Iterable[Line], out: queue.Queue[object]) -> None:
    try:
        for line in lines:
            out.put(line)
    except BaseException as e:  # handed to the producer, raised there after the lines before it are sent
        out.put(e)
        return
    out.put(_END)


def produce(
    lines: Iterable[Line],
    send: Send,
    *,
    batch_size: int,
    rate: float | None = None,
    max_wait_s: float = 1.0,
    progress: Callable[[int], None] | None = None,
    arrived: Callable[[Line], None] | None = None,
) -> Produced:
    """Send ``lines`` in batches of at most ``batch_size``, none older than ``max_wait_s``; ``arrived`` is
    told of each line as it is taken (after the ``rate`` pacing), ``progress`` of the lines sent."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=10_000)
    threading.Thread(target=_read_ahead, args=(lines, ahead), name="mokg-stream-reader", daemon=True).start()
    out = Produced()
    batch: list[WireLine] = []
    deadline = 0.0  # when the current batch must leave
    t0 = time.monotonic()
    taken = 0

    def flush() -> None:
        if batch:
            send(list(batch))
            out.lines += len(batch)
            out.batches += 1
            batch.clear()
            if progress is not None:
                progress(out.lines)

    def wait_until(t: float) -> None:
        # sleep to t, sending the pending batch on the way if its deadline comes first
        while (now := time.monotonic()) < t:
            if batch and deadline <= now:
                flush()
            time.sleep(min(t, deadline) - now if batch and deadline > now else t - now)

    while True:
        try:
            item = ahead.get(timeout=max(0.0, deadline - time.monotonic()) if batch else None)
        except queue.Empty:
            flush()
            continue
        if item is _END:
            break
        if isinstance(item, BaseException):
            flush()
            raise item
        assert isinstance(item, Line)
        if rate:
            wait_until(t0 + taken / rate)
        taken += 1
        if not batch:
            deadline = time.monotonic() + max_wait_s
        batch.append((item.number, item.raw, item.error))
        if arrived is not None:
            arrived(item)
        if len(batch) >= batch_size or time.monotonic() >= deadline:
            flush()
    flush()
    out.seconds = time.monotonic() - t0
    return out
