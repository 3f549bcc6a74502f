"""Analyst Cypher is read-only because the graph server says so, not because a scanner guessed right.

Every statement here runs as the analyst graph user that `mokg stack up` creates. The tests compare a
snapshot of the database (records per type, the types themselves, their properties, the indexes and
their uniqueness) before and after; the property-based test generates statements that mix comments,
strings, line terminators, EXPLAIN/PROFILE prefixes and write or DDL clauses, and runs each one both
through the endpoint's runner (scanner first) and past the scanner, straight to the server.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import neo4j
import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mokg.analyst import CypherBusy, CypherRefused, CypherTimeout, CypherTooDeep, ReadOnlyRunner
from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.dialect import ArcadeDB
from mokg.graph.schema import apply_schema
from mokg.stack.services import READER_GROUP, ensure_analyst_user, scratch_database

pytestmark = pytest.mark.integration

# CPU-heavy until the runner gives up on it
SLOW = "UNWIND range(1, 30000) AS a UNWIND range(1, 30000) AS b RETURN count(*) AS n"


@pytest.fixture(scope="module")
def db(graph_server: Settings) -> Iterator[Settings]:
    settings = scratch_database(graph_server, "ro")
    with Graph(settings) as g:
        apply_schema(g)
        g.run_text(
            "UNWIND range(1, 30) AS i CREATE (:User {user_id: 'u' + toString(i), name: 'n' + toString(i)})",
            {},
        )
        g.run_text("UNWIND range(1, 5) AS i CREATE (:Item {asin: 'a' + toString(i), title: 't'})", {})
        g.run_text("MATCH (u:User), (i:Item) WHERE u.user_id = 'u' + i.asin CREATE (u)-[:REVIEWED]->(i)", {})
    yield settings


@pytest.fixture(scope="module")
def runner(db: Settings) -> ReadOnlyRunner:
    return ReadOnlyRunner(db)


def _sql(settings: Settings, command: str) -> list[dict[str, Any]]:
    r = requests.post(
        f"{settings.arcadedb_http_url}/query/{settings.graph_database}",
        json={"language": "sql", "command": command},
        auth=(settings.graph_user, settings.password()),
        timeout=30,
    )
    r.raise_for_status()
    rows: list[dict[str, Any]] = r.json()["result"]
    return rows


def snapshot(settings: Settings) -> dict[str, Any]:
    """Types, their properties and record counts, and every index with its uniqueness."""
    types = {
        t["name"]: (t.get("type"), sorted(p["name"] for p in t.get("properties") or []), t.get("records"))
        for t in _sql(settings, "select name, type, properties, records from schema:types")
    }
    indexes = sorted(
        (i["name"], i.get("typeName"), str(i.get("properties")), bool(i.get("unique")))
        for i in _sql(settings, "select from schema:indexes")
    )
    with Graph(settings) as g:
        data = g.run_text(
            "MATCH (n) RETURN count(n) AS nodes, sum(CASE WHEN n.hacked IS NULL THEN 0 ELSE 1 END) AS hacked",
            {},
            read_only=True,
        )
    return {"types": types, "indexes": indexes, "data": data}


# Statements that write data, change the schema or create a type: each must be refused by the server.
SERVER_REFUSES = [
    "CREATE (:Probe {v: 1})",
    "CREATE (:BrandNewType)",
    "MATCH (u:User) WITH u LIMIT 1 SET u.hacked = true RETURN u.user_id",
    "MATCH (u:User) WITH u LIMIT 1 SET u:Hacked RETURN 1",
    "MERGE (p:Probe {v: 2}) RETURN p",
    "MATCH (u:User {user_id: 'u1'}) DETACH DELETE u",
    "MATCH (u:User) WITH u LIMIT 1 REMOVE u.name RETURN 1",
    "MATCH (i:Item) WITH i LIMIT 1 FOREACH (x IN [1] | CREATE (:Probe))",
    "MATCH (a:User {user_id: 'u1'}), (b:User {user_id: 'u2'}) CREATE (a)-[:HACKED]->(b)",
    "CREATE INDEX probe_idx FOR (n:User) ON (n.name)",
    "CREATE INDEX FOR (n:Item) ON (n.title)",
    "DROP CONSTRAINT user_id",
    "CREATE CONSTRAINT probe_unique FOR (n:Probe) REQUIRE n.v IS UNIQUE",
    "MATCH (u:User) CALL { WITH u SET u.hacked = true } RETURN count(*)",
]


def test_stack_up_made_a_read_only_analyst_user(db: Settings) -> None:
    groups = (db.home / "arcadedb" / "config" / "server-groups.json").read_text()
    assert READER_GROUP in groups
    users = (db.home / "arcadedb" / "config" / "server-users.jsonl").read_text()
    assert f'"name":"{db.analyst_graph_user}"' in users
    # its secret is private, and it reads through Bolt
    assert (db.analyst_password_file.stat().st_mode & 0o077) == 0
    reader = db.with_(graph_user=db.analyst_graph_user, graph_password=db.analyst_password())
    with Graph(reader) as g:
        assert g.run_text("MATCH (u:User) RETURN count(u) AS n", {}, read_only=True) == [{"n": 30}]


def test_a_changed_secret_recreates_the_user(db: Settings, runner: ReadOnlyRunner) -> None:
    db.analyst_password_file.write_text("not-the-password-the-server-knows\n")
    try:
        with pytest.raises(neo4j.exceptions.AuthError):
            runner.run("RETURN 1 AS one")
        ensure_analyst_user(db)
        assert runner.run("RETURN 1 AS one").rows == [[1]]
    finally:
        ensure_analyst_user(db)


@pytest.mark.parametrize("statement", SERVER_REFUSES)
def test_the_server_refuses_writes_past_the_scanner(
    db: Settings, runner: ReadOnlyRunner, statement: str
) -> None:
    """Through the runner with the scanner off: refused at once (creates, DDL) or rolled back (updates,
    which ArcadeDB checks at commit); either way nothing changes."""
    before = snapshot(db)
    with contextlib.suppress(neo4j.exceptions.Forbidden):
        runner.run(statement, check=False)
    assert snapshot(db) == before


@pytest.mark.parametrize("statement", SERVER_REFUSES)
def test_the_analyst_user_cannot_commit_a_write(db: Settings, statement: str) -> None:
    """Without our rollback either: the analyst graph user's own committed transaction is refused."""
    before = snapshot(db)
    reader = db.with_(graph_user=db.analyst_graph_user, graph_password=db.analyst_password())
    with Graph(reader, max_retry_s=0) as g, g.session() as session, pytest.raises(neo4j.exceptions.Forbidden):
        session.execute_write(lambda tx: tx.run(statement).consume())
    assert snapshot(db) == before


# -- property-based: whatever the endpoint runs leaves the database as it was ----------------------

WRITE_CLAUSES = [
    "CREATE (:Probe {v: 1})",
    "CREATE (:Gen{n})",
    "SET u.hacked = true",
    "SET u:Hacked",
    "REMOVE u.name",
    "DETACH DELETE u",
    "MERGE (:Probe {v: 3})",
    "CREATE INDEX FOR (n:Gen{n}) ON (n.x)",
    "CREATE INDEX gen{n} FOR (n:User) ON (n.name)",
    "DROP INDEX `User[user_id]`",
    "DROP CONSTRAINT user_id",
    "CREATE CONSTRAINT c{n} FOR (n:Gen{n}) REQUIRE n.id IS UNIQUE",
    "FOREACH (x IN [1] | CREATE (:Probe))",
    "CALL { WITH u SET u.hacked = true }",
]
TERMINATORS = ["\n", "\r", "\r\n", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", " ", ""]
PREFIXES = ["", "EXPLAIN ", "PROFILE ", "explain\n", "/* c */ ", "// c\n", "CYPHER ", "\ufeff", "\u200b"]
WRAPS = [
    "{w}",
    "// {t0}{w}",
    "/* {t0} */ {w}",
    "/* unterminated {t0}{w}",
    "'{t0}' {w}",
    "'\\' {w} //'",
    '"\\" {w} //"',
    "`{t0}` {w}",
    "RETURN 1 // {t0}{w}",
    "RETURN '{t0}' AS x {w}",
]


@st.composite
def statements(draw: st.DrawFn) -> str:
    n = draw(st.integers(0, 999))
    write = draw(st.sampled_from(WRITE_CLAUSES)).replace("{n}", str(n))
    t0, t1 = draw(st.sampled_from(TERMINATORS)), draw(st.sampled_from(TERMINATORS))
    wrap = draw(st.sampled_from(WRAPS)).replace("{t0}", t0).replace("{w}", t1 + write)
    head = draw(st.sampled_from(["MATCH (u:User) WITH u LIMIT 1 ", "", "MATCH (u:User {user_id: 'u1'}) "]))
    tail = draw(st.sampled_from(["", " RETURN 1", t1 + "RETURN count(*) AS n", ";"]))
    return draw(st.sampled_from(PREFIXES)) + head + wrap + tail


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statement=statements())
def test_generated_statements_never_change_the_database(
    db: Settings, runner: ReadOnlyRunner, statement: str
) -> None:
    before = snapshot(db)
    for check in (True, False):
        # refused by the scanner, by the server's permissions, or a syntax error: all fine
        with contextlib.suppress(CypherRefused, neo4j.exceptions.Neo4jError):
            runner.run(statement, check=check, timeout_s=5.0)
        assert snapshot(db) == before, (statement, check)


# -- bounded work ------------------------------------------------------------------------------------------


def _running(settings: Settings) -> list[dict[str, Any]]:
    listed = ArcadeDB(settings).server_command(f"list queries database {settings.graph_database}")
    return [q for q in listed.get("result") or [] if q.get("user") == settings.analyst_graph_user]


def test_a_statement_past_its_deadline_is_stopped_on_the_server(db: Settings, runner: ReadOnlyRunner) -> None:
    t0 = time.monotonic()
    with pytest.raises(CypherTimeout):
        runner.run(SLOW, timeout_s=1.0)
    assert time.monotonic() - t0 < 5.0
    deadline = time.monotonic() + 5.0
    while _running(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(db) == []


def test_a_statement_that_logs_in_slowly_is_still_stopped_on_the_server(
    db: Settings, runner: ReadOnlyRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logging in takes longer than the time limit: the limit starts when the statement is sent, so it is
    terminated then (a terminate at submit + timeout would find nothing and leave it running)."""
    real_session = Graph.session

    def slow_session(self: Graph, *, read_only: bool = False) -> neo4j.Session:
        time.sleep(1.5)
        return real_session(self, read_only=read_only)

    monkeypatch.setattr(Graph, "session", slow_session)
    with pytest.raises(CypherTimeout, match="was stopped"):
        runner.run(SLOW, timeout_s=0.5)
    monkeypatch.undo()
    deadline = time.monotonic() + 2.0
    while _running(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(db) == []


def test_scanner_bypass_forms_are_refused_before_the_server(runner: ReadOnlyRunner) -> None:
    for statement in (
        "RETURN {x: apoc.cypher.runFirstColumnSingle('CREATE (:Probe) RETURN 1', {})} AS m",
        "RETURN `apoc`.cypher.runFirstColumnSingle('CREATE (:Probe) RETURN 1', {}) AS m",
    ):
        with pytest.raises(CypherRefused) as refused:
            runner.run(statement)
        assert refused.value.clause == "apoc.cypher.runFirstColumnSingle"
    # map literals and labels next to each other still run
    assert runner.run("MATCH (u:User {user_id: 'u1'}) RETURN {id: u.user_id, user: u:User} AS m").rows == [
        [{"id": "u1", "user": True}]
    ]


def test_a_result_nested_too_deep_is_refused(runner: ReadOnlyRunner) -> None:
    # ArcadeDB sends up to about 2,000 levels (deeper, it drops the connection: the API answers 503)
    for levels in (300, 1500):
        with pytest.raises(CypherTooDeep):
            runner.run(f"RETURN reduce(x = [], i IN range(1, {levels}) | [x]) AS x")
    assert runner.run("RETURN 1 AS one").rows == [[1]]


def test_answers_are_bounded_in_bytes(db: Settings) -> None:
    small = ReadOnlyRunner(db.with_(analyst_max_bytes=5_000))
    r = small.run("UNWIND range(1, 100000) AS x RETURN x, 'padding padding padding' AS p", row_limit=5000)
    assert r.truncated and r.truncated_by == "bytes"
    assert 0 < len(r.rows) < 400
    r = small.run("UNWIND range(1, 10) AS x RETURN x", row_limit=5)
    assert r.truncated and r.truncated_by == "rows" and len(r.rows) == 5
    assert small.run("RETURN 1 AS one").truncated_by is None


def test_concurrency_is_bounded_per_key_and_per_host(db: Settings) -> None:
    runner = ReadOnlyRunner(db.with_(analyst_max_concurrent=2, analyst_max_per_key=1))
    runner._claim("k1")
    try:
        with pytest.raises(CypherBusy, match="this API key"):
            runner.run("RETURN 1", key="k1")
        runner._claim("k2")
        with pytest.raises(CypherBusy, match="too many"):
            runner.run("RETURN 1", key="k3")
        runner._release("k2")
        assert runner.run("RETURN 1 AS one", key="k3").rows == [[1]]
    finally:
        runner._release("k1")
    assert runner.run("RETURN 1 AS one", key="k1").rows == [[1]]


def test_a_refusal_says_when_the_statement_in_the_way_ends(db: Settings) -> None:
    runner = ReadOnlyRunner(db.with_(analyst_max_concurrent=1, analyst_max_per_key=1))
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(runner.run, SLOW, timeout_s=8.0, key="k1")
        deadline = time.monotonic() + 5.0
        while not _running(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        for key, reason in (("k1", "this API key"), ("k2", "too many")):
            with pytest.raises(CypherBusy, match=reason) as refused:
                runner.run("RETURN 1", key=key)
            assert 3 <= refused.value.retry_after_s <= 8, (key, refused.value.retry_after_s)
        with pytest.raises(CypherTimeout):
            future.result()
    assert runner.run("RETURN 1 AS one", key="k2").rows == [[1]]
