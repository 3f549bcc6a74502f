"""One streamed batch at a time per graph, across worker processes and hosts.

The §3.4 update of a batch ranks co-raters against the SIMILAR_TO edges stored before it, so it is exact only
if no other batch writes reviews or edges in between (:mod:`mokg.stream.incremental`). Batches of one graph
therefore take turns from their write to their SIMILAR_TO update, through a lock in the broker the workers
already share (a Redis lock: a key set only if absent, with an expiry, released only by its holder). The
embedding step runs outside it, so a second process still overlaps that part.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError

from mokg.config import Settings

log = logging.getLogger(__name__)

# A holder that died frees the graph after this long; a batch's locked part takes seconds (2.4 s for 5,000
# reviews at 10k users), so only a hung one comes near it.
HOLD_S = 600.0
POLL_S = 0.02  # how often a waiting batch tries again


class BatchLockTimeout(TimeoutError):
    """Another batch of the same graph held the lock for longer than ``HOLD_S``."""


class BatchLock:
    """The turn of one graph (its Bolt URI and database) among the stream's batches."""

    def __init__(self, settings: Settings) -> None:
        self.client = redis.Redis.from_url(settings.broker())
        self.name = f"mokg:stream:turn:{settings.bolt_uri}/{settings.graph_database}"

    @contextmanager
    def held(self) -> Iterator[float]:
        """Hold the graph's turn; yields the seconds spent waiting for it."""
        t0 = time.perf_counter()
        lock = self.client.lock(self.name, timeout=HOLD_S, sleep=POLL_S, blocking_timeout=HOLD_S)
        if not lock.acquire():
            raise BatchLockTimeout(f"another streamed batch held {self.name} for more than {HOLD_S:.0f} s")
        try:
            yield time.perf_counter() - t0
        finally:
            try:
                lock.release()
            except LockError as e:  # expired (past HOLD_S), maybe taken by another: say so, keep the result
                log.warning("the stream's turn on %s ended before its batch did: %s", self.name, e)
