"""The read-only clause scanner: write and admin clauses are refused wherever they hide; reads pass,
including reads whose strings, comments, property names or map keys spell a write keyword."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from mokg.analyst import CypherBusy, CypherRefused, CypherTooDeep, ReadOnlyRunner, check_read_only, to_json
from mokg.config import Settings

REFUSED = [
    ("CREATE (n:X)", "CREATE"),
    ("create (n:X)", "CREATE"),
    ("MATCH (n) SET n.x = 1", "SET"),
    ("MATCH (n) DETACH DELETE n", "DETACH"),
    ("MATCH (n) DELETE n", "DELETE"),
    ("MATCH (n) REMOVE n.x", "REMOVE"),
    ("MERGE (n:X {a: 1}) RETURN n", "MERGE"),
    ("MATCH (n) WITH n /* hidden */ SET n.x = 1", "SET"),
    ("MATCH (n) FOREACH (x IN [1] | CREATE (:Y))", "FOREACH"),
    ("LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l", "LOAD"),
    ("DROP INDEX foo", "DROP"),
    ("DROP CONSTRAINT user_id", "DROP"),
    ("CALL { CREATE (:X) } RETURN 1", "CREATE"),
    ("MATCH (n) CALL { WITH n SET n.x = 1 } RETURN n", "SET"),
    ("INSERT (:X)", "INSERT"),
    ("USE system SHOW USERS", "USE"),
    ("SHOW DATABASES", "SHOW"),
    ("RETURN 1; CREATE (:X)", ";"),
    ("RETURN 1; RETURN 2", ";"),
    ("CALL db.create.setNodeVectorProperty(n, 'e', [1.0])", "CALL db.create.setNodeVectorProperty"),
    ("CALL `db`.`create`.setNodeVectorProperty(n, 'e', [1.0])", "CALL db.create.setNodeVectorProperty"),
    ("CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DELETE n', {})", "CALL apoc.periodic.iterate"),
    ("CALL dbms.killQueries(['q'])", "CALL dbms.killQueries"),
    ("CALL db.clearQueryCaches()", "CALL db.clearQueryCaches"),
    (
        "RETURN apoc.cypher.runFirstColumnSingle('CREATE (:X) RETURN 1', {})",
        "apoc.cypher.runFirstColumnSingle",
    ),
    ("MATCH (n) RETURN apoc.create.uuid() AS u", "apoc.create.uuid"),
    # a call in a map value, after a backquoted or spaced-out first part, or after a range's `..`
    (
        "RETURN {x: apoc.cypher.runFirstColumnSingle('CALL apoc.load.json(\"http://x\")', {})} AS m",
        "apoc.cypher.runFirstColumnSingle",
    ),
    ("RETURN {a: 1, x:apoc.periodic.submit('j', 'MATCH (n) DETACH DELETE n')}", "apoc.periodic.submit"),
    ("RETURN {`k`: apoc.util.sleep(100000)}", "apoc.util.sleep"),
    ("MATCH (n) RETURN n{.name, x: apoc.util.sleep(100000)}", "apoc.util.sleep"),
    ("RETURN {x: {y: apoc.util.sleep(1)}}", "apoc.util.sleep"),
    (
        "RETURN `apoc`.cypher.runFirstColumnSingle('CALL apoc.load.json(\"http://x\")', {}) AS m",
        "apoc.cypher.runFirstColumnSingle",
    ),
    ("RETURN `apoc`.`cypher`.runFirstColumnSingle('RETURN 1', {})", "apoc.cypher.runFirstColumnSingle"),
    ("RETURN `apoc.cypher.runFirstColumnSingle`('RETURN 1', {})", "apoc.cypher.runFirstColumnSingle"),
    (
        "RETURN apoc /* c */ . cypher . runFirstColumnSingle('RETURN 1', {})",
        "apoc.cypher.runFirstColumnSingle",
    ),
    (
        "RETURN range(0, 5)[1..apoc.cypher.runFirstColumnSingle('RETURN 1', {})]",
        "apoc.cypher.runFirstColumnSingle",
    ),
    ("RETURN range(0, 5)[..apoc.util.sleep(1)]", "apoc.util.sleep"),
    ("MATCH (n:User {x: apoc.util.sleep(1)}) RETURN n", "apoc.util.sleep"),
    ("MATCH (n) SET\nn.x = 1", "SET"),
    ("MATCH (n) // comment\nDELETE n", "DELETE"),
    # a line comment ends at any line terminator the grammar knows; other separators are refused outright
    ("MATCH (n) // comment\rDELETE n", "DELETE"),
    ("MATCH (n) // comment\u2028DELETE n", "character"),
    ("MATCH (n) // comment\u0085DELETE n", "character"),
    ("MATCH (n) // comment\x0bDELETE n", "character"),
    ("\ufeffMATCH (n) DELETE n", "character"),
    ("MATCH (n) RETURN n\u200b", "character"),
    ("MATCH (n) RETURN 'a\x00b'", "character"),
    ("EXPLAIN CREATE (:X)", "CREATE"),
    ("PROFILE MATCH (n) SET n.x = 1", "SET"),
    ("", "empty"),
    ("   // only a comment", "empty"),
    ("/* nothing */ ;", "empty"),
]

ALLOWED = [
    "MATCH (u:User) RETURN u.user_id LIMIT 5",
    "MATCH (u:User)-[r:REVIEWED]->(i) WHERE r.text CONTAINS 'create a set; then delete' RETURN count(*)",
    'MATCH (u) WHERE u.name = "DROP TABLE users; --" RETURN u',
    "MATCH (n) // CREATE would be refused, but this is a comment\nRETURN count(n)",
    "MATCH (n) /* SET n.x = 1 */ RETURN n.set AS set_value",
    "MATCH (n:Create) RETURN n.delete, n.merge",
    "RETURN {create: 1, set: 2, delete: 3} AS m",
    "MATCH (n) RETURN n.`CREATE`",
    "MATCH (n) RETURN n AS `delete`",
    "CALL db.index.vector.queryNodes('User[embedding]', 10, $v) YIELD node, score RETURN node.user_id, score",
    "CALL db.labels() YIELD label RETURN label",
    "CALL { MATCH (n:User) RETURN n LIMIT 1 } RETURN n.user_id",
    "RETURN vector.similarity.cosine([1.0, 0.0], [0.0, 1.0]) AS s",
    "RETURN apoc.text.join(['a', 'b'], ',') AS s",
    "MATCH (u:User) WHERE u.user_id STARTS WITH $prefix RETURN u.user_id;",
    "UNWIND range(1, 3) AS x RETURN x",
    "MATCH p = (a:User)-[:SIMILAR_TO*1..2]-(b) RETURN length(p)",
    # map literals, projections and labels next to calls of read-only functions
    "MATCH (u:User {user_id: $id})-[r:REVIEWED|RATED]->(i:Item) RETURN {id: u.user_id, n: count(r)} AS m",
    "MATCH (n:Create:Delete) WHERE n:Set OR n:Merge RETURN n{.name, set: n.set, j: apoc.text.join(['a'], '')}",
    "RETURN {a: vector.similarity.cosine([1.0], [1.0]), b: {c: apoc.coll.sum([1, 2])}} AS m",
    "MATCH (n) RETURN n.`apoc`, n:`Label` AS is_label, {`key`: n.x} AS m",
    "RETURN [x IN range(1, 5)[1..3] | x] AS xs, range(1, 5)[..2] AS ys",
    "CALL `db`.labels() YIELD label RETURN {label: label, n: size(label)} AS m",
    "MATCH (n) RETURN toUpper(n.name) AS up, n.x IS :: INTEGER AS is_int",
]


@pytest.mark.parametrize(("text", "clause"), REFUSED)
def test_write_and_admin_clauses_are_refused(text: str, clause: str) -> None:
    with pytest.raises(CypherRefused) as e:
        check_read_only(text)
    assert e.value.clause == clause


@pytest.mark.parametrize("text", ALLOWED)
def test_reads_pass_whatever_their_strings_say(text: str) -> None:
    check_read_only(text)


def test_overlong_statements_are_refused() -> None:
    with pytest.raises(CypherRefused) as e:
        check_read_only("RETURN 1 " + " " * 20_000)
    assert e.value.clause == "size"


def test_unterminated_string_hides_nothing() -> None:
    # an unterminated literal swallows the rest: the server rejects the statement, nothing runs
    check_read_only("RETURN 'abc CREATE (n)")
    with pytest.raises(CypherRefused):
        check_read_only("CREATE (n) RETURN 'abc")


def test_to_json_flattens_driver_values() -> None:
    assert to_json({"a": [1, 2.5, None, True], "b": ("x",)}) == {"a": [1, 2.5, None, True], "b": ["x"]}
    assert to_json(dt.date(2026, 1, 2)) == "2026-01-02"
    assert to_json(b"raw") == "b'raw'"


def test_to_json_bounds_the_nesting_depth() -> None:
    value: list[object] = []
    for _ in range(98):
        value = [value]
    assert to_json({"a": value}) == {"a": value}  # 100 levels: the map and 99 lists
    with pytest.raises(CypherTooDeep, match="deeper than 100 levels"):
        to_json({"a": [value]})


def _full_host(tmp_path: Path, *, refusal_delay_s: float = 0.0, paced_refusals: int = 0) -> ReadOnlyRunner:
    """A runner whose one host-wide slot is already taken (by key "k0"), so every other statement is refused
    before it reaches a server: none is needed."""
    settings = Settings(home=tmp_path, analyst_graph_password="unused", analyst_max_concurrent=1)
    runner = ReadOnlyRunner(settings, refusal_delay_s=refusal_delay_s, paced_refusals=paced_refusals)
    runner._claim("k0", timeout_s=30.0)
    return runner


class _Pauses:
    """Stands in for ``time.sleep`` in mokg.analyst: records each pause and holds it until released."""

    def __init__(self) -> None:
        self.taken: list[float] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        self.entered.set()
        assert self.release.wait(timeout=30), "the test never released the pause"


def test_a_refusal_is_held_for_the_delay_then_says_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses = _Pauses()
    pauses.release.set()
    monkeypatch.setattr("mokg.analyst.time.sleep", pauses)
    runner = _full_host(tmp_path, refusal_delay_s=1.5, paced_refusals=1)
    with pytest.raises(CypherBusy, match="too many") as refused:
        runner.run("RETURN 1", key="k1")
    assert pauses.taken == [1.5]
    # the slot's deadline was ~30 s away; the pause is taken off what the client is told to wait
    assert 27 <= refused.value.retry_after_s <= 29


def test_refusals_past_the_paced_ones_are_answered_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses = _Pauses()
    monkeypatch.setattr("mokg.analyst.time.sleep", pauses)
    runner = _full_host(tmp_path, refusal_delay_s=3.0, paced_refusals=1)
    outcome: list[BaseException] = []

    def held() -> None:
        try:
            runner.run("RETURN 1", key="k1")
        except BaseException as e:  # the thread reports whatever ended the call
            outcome.append(e)

    thread = threading.Thread(target=held)
    thread.start()
    try:
        assert pauses.entered.wait(timeout=10), "the first refusal was not paced"
        with pytest.raises(CypherBusy, match="too many"):
            runner.run("RETURN 1", key="k2")  # the only pacing thread is taken: no pause
        assert pauses.taken == [3.0]
    finally:
        pauses.release.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and len(outcome) == 1 and isinstance(outcome[0], CypherBusy)
    with pytest.raises(CypherBusy):  # the pacing thread is free again
        runner.run("RETURN 1", key="k3")
    assert pauses.taken == [3.0, 3.0]


def test_a_library_caller_is_refused_at_once_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses = _Pauses()
    monkeypatch.setattr("mokg.analyst.time.sleep", pauses)
    runner = _full_host(tmp_path)
    with pytest.raises(CypherBusy):
        runner.run("RETURN 1", key="k1")
    assert pauses.taken == []


def test_the_web_service_paces_with_half_of_the_threads_it_has(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from mokg.apps.web.app import create_app
    from mokg.apps.web.gunicorn_conf import post_worker_init
    from mokg.apps.web.services import get_services

    settings = Settings(home=tmp_path, web_threads=12, analyst_refusal_delay_s=0.7)
    app = create_app(settings)
    with app.app_context():
        runner = get_services().analyst
    assert (runner.refusal_delay_s, runner.paced_refusals) == (0.7, 6)  # the setting, without gunicorn
    # under gunicorn, the threads the worker really has (a --threads flag overrides the setting)
    app = create_app(settings)
    post_worker_init(SimpleNamespace(wsgi=app, cfg=SimpleNamespace(threads=8)))
    with app.app_context():
        assert get_services().analyst.paced_refusals == 4
