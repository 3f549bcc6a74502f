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
3. **Bounded work.** Each statement carries a random tag in a leading comment. Its time limit starts when it
   is sent; connecting and logging in have a bound of their own, and a statement given up on before it is
   sent is never sent. Past its time limit the runner stops waiting and has the server terminate the
   statement by that tag, again until it has ended (ArcadeDB ``terminate query``; Neo4j ends it at the
   transaction timeout it is sent). Answers are bounded in rows, in bytes and in nesting depth; a truncated
   statement is terminated too. Concurrency is bounded per process and per API key.
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
from concurrent.futures import Future, ThreadPoolExecutor
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
# how long a statement's job may take to reach the server and log in; its time limit starts when it is sent
CONNECT_WAIT_S = 10.0
# how long a timed-out request waits for the server to end the statement it terminated
CANCEL_WAIT_S = 5.0
# the terminate is sent again this often until the statement has ended: it may not be listed yet
CANCEL_RETRY_S = 0.25
# past CANCEL_WAIT_S a background thread keeps terminating it, this long at most
CANCEL_FOLLOW_S = 300.0
# nesting of lists and maps in one result value; the JSON encoder stops at 255 levels, the answer adds three
MAX_DEPTH = 100

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
  | (?P<punct>\.\.|.)
    """,
    re.VERBOSE | re.DOTALL,
)


class CypherRefused(ValueError):
    """The statement is not a single read-only query; ``clause`` names what was refused."""

    def __init__(self, clause: str, message: str) -> None:
        super().__init__(message)
        self.clause = clause


class CypherTimeout(TimeoutError):
    """The statement ran past its time limit and was abandoned (its message says whether it was stopped)."""


class CypherTooDeep(ValueError):
    """A result value nests lists and maps deeper than :data:`MAX_DEPTH` levels."""


class _NotSent(Exception):
    """The job reached the server after its runner had given up: it sent nothing."""


class _Gate:
    """Between :meth:`ReadOnlyRunner.run` and its job: the statement is sent only while the runner still
    waits for it, and the runner learns when (its time limit starts then)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self.sent_at: float | None = None
        self.moved = threading.Event()  # set when the statement is sent or the job ends

    def send(self) -> bool:
        """The job, right before it sends the statement: False when the runner has given up on it."""
        with self._lock:
            if self._abandoned:
                return False
            self.sent_at = time.monotonic()
        self.moved.set()
        return True

    def abandon(self) -> bool:
        """The runner gives up: nothing is sent from now on. True if the statement was sent already."""
        with self._lock:
            self._abandoned = True
            return self.sent_at is not None


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


def _map_value(toks: list[_Tok], i: int) -> bool:
    """Whether the ``:`` before ``toks[i]`` follows a map key (``{k: v}``, ``n{.a, k: v}``), so ``toks[i]``
    starts a value. Any other ``:`` is read as a label or type, which is never a clause or a call."""
    return i >= 3 and toks[i - 2].kind in ("word", "name") and toks[i - 3].text in ("{", ",")


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
    while toks and toks[-1].text == ";":
        toks.pop()
    if not toks:
        raise CypherRefused("empty", "the statement is empty")
    procedure_at = -1  # the index of the name a CALL has checked against the allow-list
    for i, t in enumerate(toks):
        if t.kind == "punct" and t.text == ";":
            raise CypherRefused(";", "one statement at a time")
        if t.kind not in ("word", "name"):
            continue
        prev = toks[i - 1].text if i else ""
        nxt = toks[i + 1].text if i + 1 < len(toks) else ""
        # `n.set` and the later parts of a dotted name (checked from its first part below); `..` is a range
        if prev == ".":
            continue
        # `:Create` (a label), `{delete: 1}` (a map key) and `$set` are names, not clauses; a map value is not
        is_name = (prev == ":" and not _map_value(toks, i)) or (nxt == ":" and prev in ("{", ","))
        if t.kind == "word" and not is_name:
            word = t.text.upper()
            if word in WRITE_KEYWORDS:
                raise CypherRefused(word, f"{word} is not allowed: this endpoint is read-only")
            if word == "CALL" and i + 1 < len(toks) and toks[i + 1].kind in ("word", "name"):
                name, _ = _dotted(toks, i + 1)
                if name.lower() not in READ_PROCEDURES:
                    raise CypherRefused(
                        "CALL " + name, f"procedure {name} is not on the read-only allow-list"
                    )
                procedure_at = i + 1
        # every called dotted name, wherever it stands (a backquoted part, `` `a.b`() `` too): a label or a
        # map key is never followed by `.x(`, so checking one costs nothing
        if nxt in (".", "(") and i != procedure_at:
            name, j = _dotted(toks, i)
            called = j < len(toks) and toks[j].text == "("
            if called and "." in name and not name.lower().startswith(READ_FUNCTION_NAMESPACES):
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


def to_json(value: Any, depth: int = 0) -> Any:
    """A driver value as plain JSON: nodes and relationships as maps with their labels or type.

    Raises :class:`CypherTooDeep` past :data:`MAX_DEPTH` levels of lists and maps."""
    if isinstance(value, Node | Relationship | Path | Mapping | list | tuple):
        if depth >= MAX_DEPTH:
            raise CypherTooDeep(
                f"a result value nests lists or maps deeper than {MAX_DEPTH} levels; return a flatter value"
            )
        depth += 1
    if isinstance(value, Node):
        return {"_labels": sorted(value.labels), **{k: to_json(v, depth) for k, v in value.items()}}
    if isinstance(value, Relationship):
        return {"_type": value.type, **{k: to_json(v, depth) for k, v in value.items()}}
    if isinstance(value, Path):
        return [to_json(n, depth) for n in value.nodes]
    if isinstance(value, Mapping):
        return {str(k): to_json(v, depth) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v, depth) for v in value]
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
        self.connect_wait_s, self.cancel_wait_s = CONNECT_WAIT_S, CANCEL_WAIT_S
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
        gate = _Gate()
        try:
            future = self._pool.submit(
                self._job, reader, key, tagged, dict(params or {}), timeout_s, row_limit, gate
            )
        except BaseException:
            self._release(key)
            raise
        # reaching the server and logging in is not the statement's time: its clock starts when it is sent
        gate.moved.wait(self.connect_wait_s)
        if gate.sent_at is None and not future.done() and not gate.abandon():
            raise CypherTimeout(
                f"the graph server did not accept the analyst connection within {self.connect_wait_s:g} s; "
                "the statement was not sent"
            )
        sent_at = gate.sent_at if gate.sent_at is not None else time.monotonic()
        try:
            columns, rows, truncated_by = future.result(
                timeout=max(0.0, sent_at + timeout_s - time.monotonic())
            )
        except FutureTimeout as e:
            # the job keeps its slot until the server has ended the statement: concurrency counts real work
            if self._stop(tag, future):
                raise CypherTimeout(f"the statement ran past {timeout_s:g} s and was stopped") from e
            raise CypherTimeout(
                f"the statement ran past {timeout_s:g} s; the graph server was told to stop it but had not "
                f"confirmed it within {self.cancel_wait_s:g} s"
            ) from e
        except CypherTooDeep:
            self._cancel(tag)  # whatever the server still computes for it is not wanted
            raise
        if truncated_by:
            self._cancel(tag)
        took = round((time.perf_counter() - t0) * 1000, 2)
        return CypherResult(columns, rows, truncated_by is not None, took, truncated_by)

    def _job(
        self,
        reader: Settings,
        key: str,
        text: str,
        params: dict[str, Any],
        timeout_s: float,
        row_limit: int,
        gate: _Gate,
    ) -> tuple[list[str], list[list[Any]], str | None]:
        # the driver lives and dies in this thread: the neo4j driver is not safe to close from another one
        try:
            with Graph(reader, max_retry_s=0) as graph:
                return _read(graph, text, params, timeout_s, row_limit, self.max_bytes, gate=gate)
        finally:
            self._release(key)
            gate.moved.set()

    def _stop(self, tag: str, future: Future[Any]) -> bool:
        """Terminate the tagged statement again and again until its job has ended (a terminate sent before
        the server lists the statement finds nothing); True if it ended within ``cancel_wait_s``. Past that a
        background thread keeps at it, so what the client was told is still carried out."""
        end = time.monotonic() + self.cancel_wait_s
        warn = True
        while True:
            warn = self._cancel(tag, warn) and warn
            left = end - time.monotonic()
            if futures_wait([future], timeout=min(CANCEL_RETRY_S, max(0.0, left))).done:
                return True
            if left <= 0:
                break
        threading.Thread(
            target=self._keep_stopping, args=(tag, future), name="analyst-cancel", daemon=True
        ).start()
        return False

    def _keep_stopping(self, tag: str, future: Future[Any]) -> None:
        end = time.monotonic() + CANCEL_FOLLOW_S
        while not futures_wait([future], timeout=1.0).done:
            if time.monotonic() > end:
                log.warning(
                    "analyst statement %s still runs %g s after it was terminated", tag, CANCEL_FOLLOW_S
                )
                return
            self._cancel(tag, warn=False)

    def _cancel(self, tag: str, warn: bool = True) -> bool:
        """Ask the server to terminate the tagged statement; False if the request failed."""
        try:
            dialect_for(self.settings).cancel_tagged(tag)
        except Exception:  # the wait is over either way; a failed cancel must not hide the answer
            if warn:
                log.warning("could not terminate analyst statement %s on the server", tag, exc_info=True)
            return False
        return True


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
    graph: Graph,
    text: str,
    params: dict[str, Any],
    timeout_s: float,
    row_limit: int,
    max_bytes: int,
    *,
    gate: _Gate | None = None,
) -> tuple[list[str], list[list[Any]], str | None]:
    with (
        graph.session(read_only=True) as session,
        session.begin_transaction(timeout=timeout_s, metadata={"app": "mokg-analyst"}) as tx,
    ):
        # connected and logged in; a runner that gave up meanwhile gets nothing sent, so nothing to stop
        if gate is not None and not gate.send():
            raise _NotSent()
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
