"""The read-only clause scanner: write and admin clauses are refused wherever they hide; reads pass,
including reads whose strings, comments, property names or map keys spell a write keyword."""

from __future__ import annotations

import datetime as dt

import pytest

from mokg.analyst import CypherRefused, check_read_only, to_json

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
