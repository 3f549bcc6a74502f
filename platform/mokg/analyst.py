"""Read-only Cypher for analysts: the graph server enforces it; a clause scanner refuses early and clearly.

1. **The server.** Statements run as a graph user of their own (``MOKG_ANALYST_GRAPH_USER``). On ArcadeDB it
   belongs to a group that may read records and nothing else (``mokg stack up`` creates both, see
   :mod:`mokg.stack.services`), so the server refuses every write, DDL clause or new type whatever the
   statement's text; on Neo4j grant it the ``reader`` role. The transaction is READ access mode and is
   always rolled back.
2. **The scanner.** :func:`check_read_only` refuses, before anything reaches the server, a statement with a
   write or admin clause, a procedure outside a small read-only allow-list, a namespaced function outside
   read-only namespaces, more than one statement, or a control or invisible character. String literals and
   comments are skipped as the Cypher grammar reads them (a line comment ends at any line terminator), so
   ``WHERE r.text CONTAINS 'create'`` passes. It only gives a clear early answer: it is not the guard.
3. **Bounded work.** Each statement carries a random tag in a leading comment. Past its time limit the
   runner stops waiting and has the server terminate the statement by that tag (ArcadeDB ``terminate
   query``; Neo4j ends it at the transaction timeout it is sent). Answers are bounded in rows and in bytes;
   a truncated statement is terminated too. Concurrency is bounded per process and per API key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import math
import pathlib
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import IO, Any

import neo4j
from neo4j.graph import Node, Path, Relationship

from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.dialect import dialect_for

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 20_000
MAX_ROWS = 5_000
DEFAULT_ROWS = 500
DEFAULT_TIMEOUT_S = 10.0
# how long a timed-out request waits for the server to end the statement it terminated
CANCEL_WAIT_S = 5.0

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
  | (?P<line_comment>//[^\n\r]*)
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
    """Too many analyst statements are running (for this key, or on this host). ``retry_after_s``: when the
    first of the statements in the way reaches its deadline, so a client that waits that long finds a slot."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


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


# Tab, line feed and carriage return are the only control characters a statement needs. Others, and
# invisible or separator characters (U+2028, U+200B, U+FEFF, ...), are where scanners and parsers disagree.
_ALLOWED_CONTROLS = frozenset("\t\n\r")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _check_characters(text: str) -> None:
    for i, ch in enumerate(text):
        if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise CypherRefused(
                "character", f"character U+{ord(ch):04X} at offset {i} is not allowed in a statement"
            )


def check_read_only(text: str) -> None:
    """Raise :class:`CypherRefused` unless ``text`` is one statement with no write or admin clause."""
    if len(text) > MAX_QUERY_CHARS:
        raise CypherRefused("size", f"statements are limited to {MAX_QUERY_CHARS} characters")
    _check_characters(text)
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
    # "rows" or "bytes": which bound cut the answer short; None when it is whole
    truncated_by: str | None = None


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
    """Runs analyst statements as the read-only graph user, bounded in time, rows, bytes and concurrency.

    ``settings`` are the service's own (admin) settings: they reach the server only to terminate a
    statement past its deadline; the statement itself runs with the analyst user's credentials.

    ``refusal_delay_s`` and ``paced_refusals``: a refusal (:class:`CypherBusy`) is held that long (at most
    its ``retry_after_s``) before it is raised, by up to ``paced_refusals`` threads at once; past them it is
    raised at once. A client that ignores ``Retry-After`` and re-sends as soon as it is answered then sends
    at most about once a second instead of dozens of times, and the cores stay with the lookups. The pacing threads
    are shared by every key of the process. The web service paces (with half its threads); a library caller
    is answered at once by default.
    """

    def __init__(self, settings: Settings, *, refusal_delay_s: float = 0.0, paced_refusals: int = 0) -> None:
        self.settings = settings
        self.refusal_delay_s, self.paced_refusals = refusal_delay_s, paced_refusals
        self._pacing = threading.BoundedSemaphore(paced_refusals) if paced_refusals > 0 else None
        self.max_bytes = settings.analyst_max_bytes
        self.max_per_key = settings.analyst_max_per_key
        # host-wide slots: lock files every web process on this host shares, so the bound holds whatever
        # the number of gunicorn workers (a per-process bound would grow with them)
        self._slot_dir = settings.home / "run" / "analyst-slots"
        self._slot_files = [self._slot_dir / f"slot-{i}.lock" for i in range(settings.analyst_max_concurrent)]
        self._held: dict[str, list[IO[bytes]]] = {}
        self._per_key: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=settings.analyst_max_concurrent, thread_name_prefix="analyst-cypher"
        )

    def _take_slot(self, deadline: float) -> IO[bytes] | None:
        """A free host-wide slot, locked, with the statement's deadline written in it for those refused."""
        self._slot_dir.mkdir(parents=True, exist_ok=True)
        for path in self._slot_files:
            f = path.open("ab")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            f.truncate(0)
            f.write(repr(deadline).encode())
            f.flush()
            return f
        return None

    def _reader_settings(self) -> Settings:
        s = self.settings
        return s.with_(graph_user=s.analyst_graph_user, graph_password=s.analyst_password())

    def _claim(self, key: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        with self._lock:
            if self._per_key.get(key, 0) >= self.max_per_key:
                raise CypherBusy(
                    f"this API key already runs {self.max_per_key} statement(s); wait for it to finish",
                    _retry_after(pathlib.Path(f.name) for f in self._held.get(key, [])),
                )
            slot = self._take_slot(time.monotonic() + timeout_s)
            if slot is None:
                raise CypherBusy(
                    "too many analyst queries are running; try again shortly", _retry_after(self._slot_files)
                )
            self._per_key[key] = self._per_key.get(key, 0) + 1
            self._held.setdefault(key, []).append(slot)

    def _paced(self, busy: CypherBusy) -> CypherBusy:
        """``busy``, after the pause (when a pacing thread is free), its ``retry_after_s`` reduced by it."""
        pause = min(self.refusal_delay_s, busy.retry_after_s)
        if pause <= 0 or self._pacing is None or not self._pacing.acquire(blocking=False):
            return busy
        try:
            time.sleep(pause)  # no CPU: the thread waits, the client waits for its answer
        finally:
            self._pacing.release()
        return CypherBusy(str(busy), max(1, busy.retry_after_s - math.floor(pause)))

    def _release(self, key: str) -> None:
        with self._lock:
            self._held[key].pop().close()  # closing the file drops its lock
            if not self._held[key]:
                del self._held[key]
            self._per_key[key] -= 1
            if not self._per_key[key]:
                del self._per_key[key]

    def run(
        self,
        text: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        row_limit: int = DEFAULT_ROWS,
        key: str = "",
        check: bool = True,
    ) -> CypherResult:
        """Run one statement; ``check=False`` skips the scanner (tests prove the server's refusal alone)."""
        if check:
            check_read_only(text)
        reader = self._reader_settings()
        tag = f"mokg-analyst:{uuid.uuid4().hex}"
        tagged = f"/*{tag}*/ {text}"
        t0 = time.perf_counter()
        try:
            self._claim(key, timeout_s)
        except CypherBusy as busy:
            raise self._paced(busy) from None
        try:
            future = self._pool.submit(
                self._job, reader, key, tagged, dict(params or {}), timeout_s, row_limit
            )
        except BaseException:
            self._release(key)
            raise
        try:
            columns, rows, truncated_by = future.result(timeout=timeout_s)
        except FutureTimeout as e:
            # the job keeps its slot until the server has ended the statement: concurrency counts real work.
            # Waiting a moment for that end means "stopped" is true when the client reads it.
            self._cancel(tag)
            futures_wait([future], timeout=CANCEL_WAIT_S)
            raise CypherTimeout(f"the statement ran past {timeout_s:g} s and was stopped") from e
        if truncated_by:
            self._cancel(tag)
        took = round((time.perf_counter() - t0) * 1000, 2)
        return CypherResult(columns, rows, truncated_by is not None, took, truncated_by)

    def _job(
        self, reader: Settings, key: str, text: str, params: dict[str, Any], timeout_s: float, row_limit: int
    ) -> tuple[list[str], list[list[Any]], str | None]:
        # the driver lives and dies in this thread: the neo4j driver is not safe to close from another one
        try:
            with Graph(reader, max_retry_s=0) as graph:
                return _read(graph, text, params, timeout_s, row_limit, self.max_bytes)
        finally:
            self._release(key)

    def _cancel(self, tag: str) -> None:
        try:
            dialect_for(self.settings).cancel_tagged(tag)
        except Exception:  # the wait is over either way; a failed cancel must not hide the answer
            log.warning("could not terminate analyst statement %s on the server", tag, exc_info=True)


def _retry_after(slot_files: Iterable[pathlib.Path]) -> int:
    """Whole seconds until the first deadline written in these slot files (CLOCK_MONOTONIC is one clock for
    every process of the host); 1 when none can be read or it has passed (the statement is being stopped)."""
    deadlines: list[float] = []
    for path in slot_files:
        with contextlib.suppress(OSError, ValueError):
            deadlines.append(float(path.read_text()))
    if not deadlines:
        return 1
    return max(1, math.ceil(min(deadlines) - time.monotonic()))


def _json_size(row: list[Any]) -> int:
    return len(json.dumps(row, default=str, ensure_ascii=False))


def _read(
    graph: Graph, text: str, params: dict[str, Any], timeout_s: float, row_limit: int, max_bytes: int
) -> tuple[list[str], list[list[Any]], str | None]:
    with (
        graph.session(read_only=True) as session,
        session.begin_transaction(timeout=timeout_s, metadata={"app": "mokg-analyst"}) as tx,
    ):
        result = tx.run(text, params)
        columns = list(result.keys())
        rows: list[list[Any]] = []
        truncated_by: str | None = None
        size = 0
        for record in result:
            if len(rows) == row_limit:
                truncated_by = "rows"
                break
            row = [to_json(v) for v in record.values()]
            size += _json_size(row)
            if size > max_bytes:
                truncated_by = "bytes"
                break
            rows.append(row)
        # never commit: the transaction is rolled back on exit, whatever the statement was
        tx.rollback()
    return columns, rows, truncated_by


def read_only_error(e: neo4j.exceptions.Neo4jError) -> str:
    """The server's message for a failed analyst statement, one line."""
    return (e.message or e.code or "the statement failed").splitlines()[0][:500]
