"""Read-only Cypher for analysts: a conservative clause scanner, then a bounded read transaction.

The statement runs in a READ access-mode transaction with a transaction timeout, but neither is enough on
its own: ArcadeDB 26.10 over Bolt executes CREATE / SET / MERGE inside a READ transaction and ignores the
transaction timeout (both checked against the real server; see tests/integration/test_web_api.py). So:

1. :func:`check_read_only` refuses, before anything reaches the server, every statement that contains a
   write or admin clause (CREATE, MERGE, SET, DELETE, REMOVE, DROP, FOREACH, LOAD CSV, ...), a procedure
   outside a small read-only allow-list, a namespaced function outside read-only namespaces (``apoc.cypher.*``
   runs arbitrary text, for instance), or more than one statement. String literals and comments are ignored,
   so ``WHERE r.text CONTAINS 'create'`` passes; backquoted names are names, never keywords.
2. :func:`run_read_only` runs it on a driver of its own, in a worker thread: past the timeout the driver is
   closed, which ends the wait at once (the server-side transaction timeout is sent too, and Neo4j honours it).
   At most ``row_limit`` rows are read; ``truncated`` says whether there were more. The transaction is
   always rolled back, never committed, so a write the scanner missed would still not persist (ArcadeDB does
   honour a Bolt rollback).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import neo4j
from neo4j.graph import Node, Path, Relationship

from mokg.config import Settings
from mokg.graph import Graph

MAX_QUERY_CHARS = 20_000
MAX_ROWS = 5_000
DEFAULT_ROWS = 500
DEFAULT_TIMEOUT_S = 10.0

# Clauses that change data, schema, users or the session's database, or read server files.
WRITE_KEYWORDS = frozenset(
    {
        "CREATE", "MERGE", "SET", "DELETE", "DETACH", "NODETACH", "REMOVE", "DROP", "FOREACH", "LOAD",
        "INSERT", "ALTER", "RENAME", "GRANT", "DENY", "REVOKE", "START", "STOP", "TERMINATE", "ENABLE",
        "DISABLE", "USE", "SHOW", "IMPORT", "COPY",
    }
)  # fmt: skip
# Procedures an analyst may CALL: read-only ones (compared case-insensitively).
READ_PROCEDURES = frozenset(
    {
        "db.index.vector.querynodes",
        "db.index.vector.queryrelationships",
        "db.index.fulltext.querynodes",
        "db.index.fulltext.queryrelationships",
        "db.labels",
        "db.relationshiptypes",
        "db.propertykeys",
        "db.schema.visualization",
        "db.schema.nodetypeproperties",
        "db.schema.reltypeproperties",
    }
)
# Namespaces of functions that only compute values (APOC's text, collection, map and math helpers...).
READ_FUNCTION_NAMESPACES = (
    "vector.similarity.",
    "apoc.text.",
    "apoc.coll.",
    "apoc.map.",
    "apoc.math.",
    "apoc.number.",
    "apoc.convert.",
    "apoc.date.",
    "apoc.temporal.",
    "apoc.agg.",
    "apoc.label.",
    "apoc.meta.cypher.",
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?(?:\*/|\Z))
  | (?P<string>'(?:[^'\\]|\\.)*(?:'|\Z)|"(?:[^"\\]|\\.)*(?:"|\Z))
  | (?P<quoted>`(?:[^`]|``)*(?:`|\Z))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<param>\$[A-Za-z_][A-Za-z0-9_]*|\$`[^`]*`)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class CypherRefused(ValueError):
    """The statement is not a single read-only query; ``clause`` names what was refused."""

    def __init__(self, clause: str, message: str) -> None:
        super().__init__(message)
        self.clause = clause


class CypherTimeout(TimeoutError):
    """The statement ran past its time limit and was abandoned."""


class CypherBusy(RuntimeError):
    """Too many analyst statements are running in this process."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # word (unquoted), name (backquoted), punct, value (string/number/param)
    text: str


def _tokens(text: str) -> Iterator[_Tok]:
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "punct"
        if kind in ("space", "line_comment", "block_comment"):
            continue
        value = m.group()
        if kind == "quoted":
            yield _Tok("name", value[1:-1].replace("``", "`"))
        elif kind in ("string", "number", "param"):
            yield _Tok("value", value)
        else:
            yield _Tok(kind, value)


def _dotted(toks: list[_Tok], i: int) -> tuple[str, int]:
    """The dotted name starting at ``toks[i]`` (``db.index.vector.queryNodes``) and the index after it."""
    parts = []
    while i < len(toks) and toks[i].kind in ("word", "name"):
        parts.append(toks[i].text)
        if i + 2 < len(toks) and toks[i + 1].text == "." and toks[i + 2].kind in ("word", "name"):
            i += 2
        else:
            i += 1
            break
    return ".".join(parts), i


def check_read_only(text: str) -> None:
    """Raise :class:`CypherRefused` unless ``text`` is one statement with no write or admin clause."""
    if len(text) > MAX_QUERY_CHARS:
        raise CypherRefused("size", f"statements are limited to {MAX_QUERY_CHARS} characters")
    toks = list(_tokens(text))
    if not toks:
        raise CypherRefused("empty", "the statement is empty")
    while toks and toks[-1].text == ";":
        toks.pop()
    for i, t in enumerate(toks):
        if t.kind == "punct" and t.text == ";":
            raise CypherRefused(";", "one statement at a time")
        if t.kind != "word":
            continue
        prev = toks[i - 1].text if i else ""
        nxt = toks[i + 1].text if i + 1 < len(toks) else ""
        # `n.set`, `:Create`, `{delete: 1}` and `$set` are names, not clauses
        if prev in (".", ":") or (nxt == ":" and prev in ("{", ",")):
            continue
        word = t.text.upper()
        if word in WRITE_KEYWORDS:
            raise CypherRefused(word, f"{word} is not allowed: this endpoint is read-only")
        if word == "CALL" and i + 1 < len(toks) and toks[i + 1].kind in ("word", "name"):
            name, _ = _dotted(toks, i + 1)
            if name.lower() not in READ_PROCEDURES:
                raise CypherRefused("CALL " + name, f"procedure {name} is not on the read-only allow-list")
        if i + 1 < len(toks) and toks[i + 1].text == ".":
            name, j = _dotted(toks, i)
            called = j < len(toks) and toks[j].text == "("
            is_procedure = prev.upper() == "CALL"
            if called and not is_procedure and not name.lower().startswith(READ_FUNCTION_NAMESPACES):
                raise CypherRefused(name, f"function {name} is not in a read-only namespace")


# -- running ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CypherResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    took_ms: float


def to_json(value: Any) -> Any:
    """A driver value as plain JSON: nodes and relationships as maps with their labels or type."""
    if isinstance(value, Node):
        return {"_labels": sorted(value.labels), **{k: to_json(v) for k, v in value.items()}}
    if isinstance(value, Relationship):
        return {"_type": value.type, **{k: to_json(v) for k, v in value.items()}}
    if isinstance(value, Path):
        return [to_json(n) for n in value.nodes]
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dt.date | dt.time | dt.datetime) or hasattr(value, "iso_format"):
        iso = getattr(value, "iso_format", None)
        return iso() if callable(iso) else value.isoformat()
    return str(value)


class ReadOnlyRunner:
    """Runs analyst statements with a time and row limit, a few at a time per process."""

    def __init__(self, settings: Settings, *, max_concurrent: int = 2) -> None:
        self.settings = settings
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="analyst-cypher")

    def run(
        self,
        text: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        row_limit: int = DEFAULT_ROWS,
    ) -> CypherResult:
        check_read_only(text)
        if not self._slots.acquire(blocking=False):
            raise CypherBusy("too many analyst queries are running; try again shortly")
        # a driver of its own: closing it is how a statement past its deadline is cut off
        graph = Graph(self.settings, max_retry_s=0)
        t0 = time.perf_counter()
        try:
            future = self._pool.submit(_read, graph, text, dict(params or {}), timeout_s, row_limit)
            try:
                columns, rows, truncated = future.result(timeout=timeout_s)
            except FutureTimeout as e:
                raise CypherTimeout(f"the statement ran past {timeout_s:g} s and was stopped") from e
        finally:
            graph.close()
            self._slots.release()
        return CypherResult(columns, rows, truncated, round((time.perf_counter() - t0) * 1000, 2))


def _read(
    graph: Graph, text: str, params: dict[str, Any], timeout_s: float, row_limit: int
) -> tuple[list[str], list[list[Any]], bool]:
    with (
        graph.session(read_only=True) as session,
        session.begin_transaction(timeout=timeout_s, metadata={"app": "mokg-analyst"}) as tx,
    ):
        result = tx.run(text, params)
        columns = list(result.keys())
        rows: list[list[Any]] = []
        truncated = False
        for record in result:
            if len(rows) == row_limit:
                truncated = True
                break
            rows.append([to_json(v) for v in record.values()])
        # never commit: the transaction is rolled back on exit, whatever the statement was
        tx.rollback()
    return columns, rows, truncated


def read_only_error(e: neo4j.exceptions.Neo4jError) -> str:
    """The server's message for a failed analyst statement, one line."""
    return (e.message or e.code or "the statement failed").splitlines()[0][:500]
