"""The one way to talk to the graph: a :class:`Graph` over the official ``neo4j`` driver.

- ``query(name, **params)`` runs a named read statement in a read transaction.
- ``execute(name, **params)`` runs a named write statement in a write transaction.
- ``write_batches(name, rows)`` sends rows as ``$rows`` to an ``UNWIND $rows …`` statement, one explicit
  transaction per batch. Managed transactions (``execute_read``/``execute_write``) retry transient
  errors with backoff, so a batch is all-or-nothing and every statement is an idempotent MERGE.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import Any

import neo4j
from neo4j import GraphDatabase, ManagedTransaction

from mokg.config import Settings, get_settings
from mokg.graph import cypher
from mokg.graph.dialect import Dialect, dialect_for

Row = dict[str, Any]


@dataclass
class BatchStats:
    rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    # the sum of the statement's `n` column, for statements that report what matched
    returned: int = 0


def batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


class Graph:
    """A driver plus the database name and dialect. Use as a context manager, or call ``close()``."""

    def __init__(self, settings: Settings | None = None, *, max_retry_s: float = 30.0) -> None:
        self.settings = settings or get_settings()
        self.dialect: Dialect = dialect_for(self.settings)
        self.driver = GraphDatabase.driver(
            self.settings.bolt_uri,
            auth=(self.settings.graph_user, self.settings.password()),
            max_transaction_retry_time=max_retry_s,
        )
        self._reached = False

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.driver.close()

    def session(self, *, read_only: bool = False) -> neo4j.Session:
        if not self._reached:
            # once: a server that is down or refuses the login fails now (under a millisecond), instead of
            # after the driver's transaction retries (measured: 66 s to the first error); a server lost later
            # is still retried for max_retry_s, which is what rides out a restart
            self.driver.verify_connectivity()
            self._reached = True
        mode = neo4j.READ_ACCESS if read_only else neo4j.WRITE_ACCESS
        return self.driver.session(database=self.settings.graph_database, default_access_mode=mode)

    def ping(self) -> bool:
        self.driver.verify_connectivity()
        return True

    # -- named statements -------------------------------------------------------------------------
    def query(self, name: str, **params: Any) -> list[Row]:
        text = cypher.load(name)
        with self.session(read_only=True) as s:
            return s.execute_read(_fetch, text, params)

    def execute(self, name: str, **params: Any) -> list[Row]:
        text = cypher.load(name)
        with self.session() as s:
            return s.execute_write(_fetch, text, params)

    def write_batches(
        self,
        name: str,
        rows: Iterable[Row],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
        **params: Any,
    ) -> BatchStats:
        """Write ``rows`` through the named ``UNWIND $rows`` statement, a transaction per batch."""
        text = cypher.load(name)
        stats = BatchStats()
        t0 = time.perf_counter()
        with self.session() as s:
            for chunk in batched(rows, batch_size or self.settings.batch_size):
                stats.returned += s.execute_write(_write, text, {**params, "rows": chunk})
                stats.rows += len(chunk)
                stats.batches += 1
                if progress:
                    progress(len(chunk))
        stats.seconds = time.perf_counter() - t0
        return stats

    # -- free text: only for analyst queries and DDL whose identifiers were checked -----------------
    def run_text(self, text: str, params: dict[str, Any], *, read_only: bool = False) -> list[Row]:
        with self.session(read_only=read_only) as s:
            if read_only:
                return s.execute_read(_fetch, text, params)
            return s.execute_write(_fetch, text, params)


class _Unprinted(list[Any]):
    """A parameter list the driver packs as any list but prints as its length. The driver formats every
    RUN's parameters for its debug log before the logger checks the level (``neo4j/_sync/io/_bolt/_bolt5.py``,
    ``" ".join(map(repr, fields))``): 0.17 s for 3,000 vectors of 128 floats, spent on a line nobody logs.
    Measured: the 100k-user write-back took 12.9 s with it and 5.1-5.4 s without."""

    def __repr__(self) -> str:
        return f"<{len(self)} items>"


def _unprinted(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _Unprinted(v) if isinstance(v, list) else v for k, v in params.items()}


def _fetch(tx: ManagedTransaction, text: str, params: dict[str, Any]) -> list[Row]:
    # dict(record), not Result.data(): data() converts every value recursively, which costs ~8 ms for 50
    # embeddings of 64 floats. Statements return properties explicitly (never nodes), so rows are equal.
    return [dict(r) for r in tx.run(text, _unprinted(params))]


def _write(tx: ManagedTransaction, text: str, params: dict[str, Any]) -> int:
    return sum(int(r.get("n") or 0) for r in tx.run(text, _unprinted(params)).data())
