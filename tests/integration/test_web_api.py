"""Contract tests of every endpoint against the real graph server: shapes, auth and scopes, validation (400
naming the field), bounds, the read-only Cypher refusal, health, metrics and the OpenAPI document."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from served_graph import ENTITY, STARBUCKS, Served

from mokg import analyst
from mokg.apikeys import create_key, list_keys, revoke_key
from mokg.apps.web.app import OPENAPI_PATH, create_app
from mokg.config import Settings
from mokg.graph import Graph
from mokg.lookalike import audience
from mokg.stack.services import scratch_database

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Keys:
    both: str
    lookup: str
    analyst: str
    revoked: str


@pytest.fixture(scope="module")
def keys(served: Served) -> Keys:
    with Graph(served.settings) as g:
        revoked = create_key(g, ["lookup", "analyst"], name="revoked")
        revoke_key(g, revoked.key.id)
        return Keys(
            both=create_key(g, ["lookup", "analyst"], name="both").token,
            lookup=create_key(g, ["lookup"], name="lookup").token,
            analyst=create_key(g, ["analyst"], name="analyst").token,
            revoked=revoked.token,
        )


@pytest.fixture(scope="module")
def app(served: Served) -> Iterator[Flask]:
    app = create_app(served.settings, key_ttl_s=0, cypher_timeout_s=3.0)
    yield app
    app.extensions["mokg"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post(client: FlaskClient, path: str, body: Any, token: str) -> Any:
    return client.post(path, json=body, headers=_h(token))


# -- lookalike ---------------------------------------------------------------------------------------------


def test_lookalike_contract(client: FlaskClient, served: Served, keys: Keys) -> None:
    seeds = list(served.user_ids[:50:5])
    r = _post(client, "/v1/lookalike", {"seed_user_ids": [*seeds, "NO-SUCH"], "k": 12}, keys.lookup)
    assert r.status_code == 200, r.json
    body = r.json
    assert list(body) == ["users", "stats", "model_version", "took_ms"]
    assert [list(u) for u in body["users"]] == [["user_id", "score", "rank"]] * 12
    assert [u["rank"] for u in body["users"]] == list(range(1, 13))
    assert not {u["user_id"] for u in body["users"]} & set(seeds)
    st = body["stats"]
    assert (st["n_seeds"], st["n_seeds_found"], st["n_returned"], st["threshold"]) == (11, 10, 12, None)
    assert st["unknown_seed_ids"] == ["NO-SUCH"]
    assert body["model_version"] == "test-v1" and body["took_ms"] > 0


def test_lookalike_item_threshold_exclusion_and_explanations(
    client: FlaskClient, served: Served, keys: Keys
) -> None:
    exclude = [u for u in served.user_ids if STARBUCKS not in served.items_of[u]][:30]
    r = _post(
        client,
        "/v1/lookalike",
        {"seed_item": STARBUCKS, "threshold": 0.3, "k": 40, "method": "max_seed", "exclude_user_ids": exclude,
         "explain": True, "filters": {"min_reviews": 5}},
        keys.both,
    )  # fmt: skip
    assert r.status_code == 200, r.json
    users = r.json["users"]
    assert 0 < len(users) <= 40 and all(u["score"] >= 0.3 for u in users)
    assert not {u["user_id"] for u in users} & (
        set(exclude) | {u for u in served.user_ids if STARBUCKS in served.items_of[u]}
    )
    assert set(users[0]["explanation"]) == {"shared_items", "shared_categories", "similar_users", "entities"}
    assert r.json["stats"]["threshold"] == 0.3 and r.json["stats"]["n_seeds"] == 94
    cats = r.json["categories"]
    assert cats["seeds"][0] == {"category": "Gift Cards > Gift Cards", "name": "Gift Cards", "users": 94}
    assert cats["audience"][0]["users"] == len(users)


def test_lookalike_seed_query_and_unknown_item(client: FlaskClient, keys: Keys) -> None:
    r = _post(
        client,
        "/v1/lookalike",
        {"seed_query": "item_likers", "params": {"asin": STARBUCKS}, "k": 3},
        keys.lookup,
    )
    assert r.status_code == 200 and r.json["stats"]["n_seeds"] > 50
    r = _post(client, "/v1/lookalike", {"seed_item": "NO-SUCH-ITEM"}, keys.lookup)
    assert r.status_code == 404 and r.json["field"] == "seed_item"


def test_lookalike_logreg_and_the_recorded_default_method(
    app: Flask, client: FlaskClient, served: Served, keys: Keys
) -> None:
    buyers = sorted(u for u in served.user_ids if STARBUCKS in served.items_of[u])
    seeds, held_out = buyers[::2], set(buyers[1::2])
    body = {"seed_user_ids": seeds, "k": 20}
    r = _post(client, "/v1/lookalike", {**body, "method": "logreg"}, keys.lookup)
    assert r.status_code == 200, r.json
    got = [u["user_id"] for u in r.json["users"]]
    assert len(got) == 20 and not set(got) & set(seeds)
    assert (r.json["stats"]["method"], r.json["stats"]["method_source"]) == ("logreg", "request")
    assert all(-1.0 <= u["score"] <= 1.0 for u in r.json["users"])  # cosines to the classifier's weights
    base = len(held_out) / (len(served.user_ids) - len(seeds))
    assert len(set(got) & held_out) / 20 > 3 * base
    # no method named and none recorded for the model: centroid
    r = _post(client, "/v1/lookalike", body, keys.lookup)
    assert (r.json["stats"]["method"], r.json["stats"]["method_source"]) == ("centroid", "default")
    cache = app.extensions["mokg"].seed_cache
    with Graph(served.settings) as g:
        try:
            audience.record_method(g, "test-v1", "logreg", {"validation_ap": {"logreg": 0.5}})
            cache.clear()  # a fresh worker; a running one asks again within a minute
            r = _post(client, "/v1/lookalike", body, keys.lookup)
            assert (r.json["stats"]["method"], r.json["stats"]["method_source"]) == ("logreg", "model")
            assert len(r.json["users"]) == 20 and not {u["user_id"] for u in r.json["users"]} & set(seeds)
            r = _post(client, "/v1/lookalike", {**body, "method": "centroid"}, keys.lookup)
            assert (r.json["stats"]["method"], r.json["stats"]["method_source"]) == ("centroid", "request")
        finally:
            g.run_text("MATCH (m:Model {version: 'test-v1'}) DETACH DELETE m", {})
            cache.clear()


BAD_BODIES = [
    ({}, "seed_user_ids"),
    ({"seed_user_ids": []}, "seed_user_ids"),
    ({"seed_user_ids": "A1"}, "seed_user_ids"),
    ({"seed_user_ids": ["A1", 5]}, "seed_user_ids[1]"),
    ({"seed_user_ids": ["x" * 129]}, "seed_user_ids[0]"),
    ({"seed_user_ids": ["A1"] * 2001}, "seed_user_ids"),
    ({"seed_user_ids": ["A1"], "seed_item": STARBUCKS}, "seed_item"),
    ({"seed_item": STARBUCKS, "k": 0}, "k"),
    ({"seed_item": STARBUCKS, "k": 10001}, "k"),
    ({"seed_item": STARBUCKS, "k": "5"}, "k"),
    ({"seed_item": STARBUCKS, "k": True}, "k"),
    ({"seed_item": STARBUCKS, "k": None}, "k"),
    ({"seed_item": STARBUCKS, "threshold": 1.5}, "threshold"),
    ({"seed_item": STARBUCKS, "method": "magic"}, "method"),
    ({"seed_item": STARBUCKS, "exclude_user_ids": ["A"] * 10001}, "exclude_user_ids"),
    ({"seed_item": STARBUCKS, "filters": {"colour": "red"}}, "filters.colour"),
    ({"seed_item": STARBUCKS, "filters": {"min_reviews": 0}}, "filters.min_reviews"),
    ({"seed_item": STARBUCKS, "filters": []}, "filters"),
    ({"seed_item": STARBUCKS, "explain": "yes"}, "explain"),
    ({"seed_item": STARBUCKS, "params": {"a": 1}}, "params"),
    ({"seed_item": STARBUCKS, "surprise": 1}, "surprise"),
    ({"seed_query": "no_such_query"}, "seed_query"),
    ({"seed_query": "item_likers"}, "params.asin"),
    ({"seed_query": "item_likers", "params": {"asin": STARBUCKS, "limit": 5}}, "params.limit"),
    ({"seed_query": "item_likers", "params": {"as in": "x"}}, "params.as in"),
    ({"seed_query": "item_likers", "params": {"asin": {"nested": 1}}}, "params.asin"),
    ([1, 2], "body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_lookalike_validation_names_the_field(client: FlaskClient, keys: Keys, body: Any, field: str) -> None:
    r = _post(client, "/v1/lookalike", body, keys.lookup)
    assert r.status_code == 400, r.json
    assert r.json["field"] == field and r.json["error"]


def test_malformed_and_oversized_bodies(client: FlaskClient, keys: Keys) -> None:
    r = client.post(
        "/v1/lookalike", data="{not json", headers={**_h(keys.lookup), "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json["field"] == "body"
    r = client.post(
        "/v1/lookalike",
        data="x" * (3 * 1024 * 1024),
        headers={**_h(keys.lookup), "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json["error"]
    # the same body sent chunked, with no Content-Length to refuse it by: still 413, not 400
    big = b'{"seeds": {"user_ids": ["' + b"a" * (3 * 1024 * 1024) + b'"]}}'
    r = client.post(
        "/v1/lookalike",
        input_stream=io.BytesIO(big),
        headers={**_h(keys.lookup), "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert r.status_code == 413 and r.json["error"]


# -- auth -------------------------------------------------------------------------------------------------

LOOKUP_CALLS = [
    ("POST", "/v1/lookalike", {"seed_item": STARBUCKS, "k": 2}),
    ("GET", f"/v1/items/{STARBUCKS}", None),
    ("GET", "/v1/users/A31UBHTUUIFJUT", None),
    ("GET", f"/v1/entities/{ENTITY}/relations", None),
]
ANALYST_CALLS = [("POST", "/v1/cypher", {"query": "RETURN 1 AS one"})]


def _call(client: FlaskClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), LOOKUP_CALLS + ANALYST_CALLS)
def test_auth_401_missing_or_bad_403_wrong_scope(
    client: FlaskClient, keys: Keys, method: str, path: str, body: Any
) -> None:
    scope_key, other_key = (
        (keys.analyst, keys.lookup) if path == "/v1/cypher" else (keys.lookup, keys.analyst)
    )
    missing = _call(client, method, path, body, {})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    for bad in ("nonsense", scope_key[:-1] + ("A" if scope_key[-1] != "A" else "B"), keys.revoked):
        assert _call(client, method, path, body, _h(bad)).status_code == 401
    wrong = _call(client, method, path, body, _h(other_key))
    assert wrong.status_code == 403 and "scope" in wrong.json["error"]
    assert _call(client, method, path, body, {"X-API-Key": scope_key}).status_code == 200
    assert _call(client, method, path, body, _h(keys.both)).status_code == 200


def test_keys_are_stored_hashed_and_listed_without_secrets(served: Served, keys: Keys) -> None:
    with Graph(served.settings) as g:
        stored = g.run_text("MATCH (k:ApiKey) RETURN k.hash AS h, k.id AS id", {}, read_only=True)
        listed = list_keys(g)
    secret = keys.both.split("_", 2)[2]
    assert all(secret not in json.dumps(r) for r in stored)
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["h"]) for r in stored)
    assert {k.name for k in listed} >= {"both", "lookup", "analyst", "revoked"}
    assert [k.revoked for k in listed if k.name == "revoked"] == [True]


def test_cli_keys_create_list_revoke(served: Served, app: Flask) -> None:
    from conftest import run_mokg

    made = run_mokg("keys", "create", "--scope", "lookup", "--name", "cli", settings=served.settings)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    client = app.test_client()
    assert client.get(f"/v1/items/{STARBUCKS}", headers=_h(token)).status_code == 200
    key_id = token.split("_")[1]
    assert key_id in run_mokg("keys", "list", settings=served.settings).stdout
    assert run_mokg("keys", "revoke", key_id, settings=served.settings).returncode == 0
    assert client.get(f"/v1/items/{STARBUCKS}", headers=_h(token)).status_code == 401  # cache TTL is 0 here
    assert run_mokg("keys", "revoke", "ffffffffffff", settings=served.settings).returncode == 1


# -- users, items, entities -------------------------------------------------------------------------------


def test_user_contract(client: FlaskClient, served: Served, keys: Keys) -> None:
    a, b = served.similar_pairs[0]
    r = client.get(f"/v1/users/{a}?neighbours=5&reviews=2", headers=_h(keys.lookup))
    assert r.status_code == 200, r.json
    u = r.json
    assert u["user_id"] == a and u["embedding_version"] == "test-v1"
    assert (
        u["review_summary"]["n_reviews"] == len(served.items_of[a])
        and len(u["review_summary"]["recent"]) == 2
    )
    assert len(u["nearest_users"]) == 5 and a not in {n["user_id"] for n in u["nearest_users"]}
    assert b in {s["user_id"] for s in u["similar_users"]}
    assert client.get("/v1/users/NO-SUCH", headers=_h(keys.lookup)).status_code == 404
    bad = client.get(f"/v1/users/{a}?neighbours=abc", headers=_h(keys.lookup))
    assert bad.status_code == 400 and bad.json["field"] == "neighbours"
    assert client.get(f"/v1/users/{a}?reviews=101", headers=_h(keys.lookup)).json["field"] == "reviews"
    # a user without an embedding still has a profile page, with no nearest users
    r = client.get(f"/v1/users/{served.no_embedding}", headers=_h(keys.lookup))
    assert r.status_code == 200 and r.json["nearest_users"] == []


def test_item_contract_and_mokg_relations(client: FlaskClient, keys: Keys) -> None:
    r = client.get(f"/v1/items/{STARBUCKS}", headers=_h(keys.lookup))
    assert r.status_code == 200
    item = r.json
    assert item["asin"] == STARBUCKS and item["n_buyers"] == 94 and item["stores"] == ["Starbucks"]
    (rel,) = item["relations"]
    assert {
        k: rel[k] for k in ("relation", "target", "target_label", "target_key", "votes", "model", "run_id")
    } == {
        "relation": "TARGET_AUDIENCE",
        "target": ENTITY,
        "target_label": "Entity",
        "target_key": "Audience:coffee-lover",
        "votes": 3,
        "model": "test-llm",
        "run_id": "run-test",
    }
    assert rel["prompt_ids"] == ["p1", "p2"] and rel["plausibility"] == 0.91
    assert client.get("/v1/items/NO-SUCH", headers=_h(keys.lookup)).status_code == 404


def test_entity_relations_with_provenance(client: FlaskClient, keys: Keys) -> None:
    for name in (ENTITY, "The Coffee Lovers", "Audience:coffee-lover", "COFFEE-LOVERS"):
        r = client.get(f"/v1/entities/{name}/relations", headers=_h(keys.lookup))
        assert r.status_code == 200, (name, r.json)
        (entity,) = r.json["entities"]
        assert entity["key"] == "Audience:coffee-lover"
        assert {x["source"] for x in entity["relations"]} == {STARBUCKS, "B004Q7CK9M"}
        assert all(
            x["source_label"] == "Item" and x["relation"] == "TARGET_AUDIENCE" for x in entity["relations"]
        )
        assert all(x["model"] == "test-llm" and x["votes"] == 3 and x["run_id"] for x in entity["relations"])
    assert client.get("/v1/entities/tea drinker/relations", headers=_h(keys.lookup)).status_code == 404


# -- read-only Cypher -------------------------------------------------------------------------------------


def test_cypher_returns_rows_as_json_with_a_row_limit(client: FlaskClient, keys: Keys) -> None:
    r = _post(
        client,
        "/v1/cypher",
        {"query": "MATCH (u:User) RETURN u.user_id AS id, u AS node ORDER BY id", "limit": 3},
        keys.analyst,
    )
    assert r.status_code == 200, r.json
    assert r.json["columns"] == ["id", "node"] and len(r.json["rows"]) == 3 and r.json["truncated"] is True
    assert r.json["rows"][0][1]["user_id"] == r.json["rows"][0][0]
    r = _post(
        client,
        "/v1/cypher",
        {"query": "MATCH (i:Item {asin: $a}) RETURN i.title AS t", "params": {"a": STARBUCKS}},
        keys.analyst,
    )
    assert r.json["rows"] == [["Starbucks Gift Card"]] and r.json["truncated"] is False
    r = _post(client, "/v1/cypher", {"query": "MATCH (n:User RETURN n"}, keys.analyst)
    assert r.status_code == 400 and r.json["field"] == "query"
    assert (
        _post(client, "/v1/cypher", {"query": "RETURN 1", "limit": 5001}, keys.analyst).json["field"]
        == "limit"
    )
    assert _post(client, "/v1/cypher", {}, keys.analyst).json["field"] == "query"


def test_cypher_timeout_is_enforced(client: FlaskClient, keys: Keys) -> None:
    slow = "UNWIND range(1, 3000) AS a UNWIND range(1, 3000) AS b RETURN count(*) AS n"
    r = _post(client, "/v1/cypher", {"query": slow, "timeout_s": 0.3}, keys.analyst)
    assert r.status_code == 504 and "0.3 s" in r.json["error"]
    # the endpoint is usable again at once
    assert _post(client, "/v1/cypher", {"query": "RETURN 1 AS one"}, keys.analyst).json["rows"] == [[1]]


def test_cypher_bad_input_and_odd_results_are_4xx_naming_the_field(client: FlaskClient, keys: Keys) -> None:
    # an integer Bolt cannot pack, a statement with nothing in it, a result deeper than JSON may nest
    r = _post(client, "/v1/cypher", {"query": "RETURN $n AS n", "params": {"n": 2**63}}, keys.analyst)
    assert r.status_code == 400 and r.json["field"] == "params.n", r.json
    r = _post(client, "/v1/cypher", {"query": "RETURN $n AS n", "params": {"n": 2**63 - 1}}, keys.analyst)
    assert r.status_code == 200 and r.json["rows"] == [[2**63 - 1]]
    r = _post(client, "/v1/cypher", {"query": "  // nothing\n"}, keys.analyst)
    assert r.status_code == 400 and r.json["field"] == "query", r.json
    r = _post(
        client, "/v1/cypher", {"query": "RETURN reduce(x = [], i IN range(1, 300) | [x]) AS x"}, keys.analyst
    )
    assert r.status_code == 400 and r.json["field"] == "query" and "deeper than" in r.json["error"], r.json
    r = _post(
        client, "/v1/cypher", {"query": "RETURN reduce(x = [], i IN range(1, 50) | [x]) AS x"}, keys.analyst
    )
    assert r.status_code == 200, r.json


def test_cypher_with_a_refused_analyst_graph_user_is_a_503(
    client: FlaskClient, served: Served, keys: Keys
) -> None:
    """The server's misconfiguration, not the request's fault: 503, not 400 on the query."""
    secret = served.settings.analyst_password_file
    known = secret.read_text()
    secret.write_text(f"wrong-{uuid.uuid4().hex}\n")
    try:
        r = _post(client, "/v1/cypher", {"query": "RETURN 1 AS one"}, keys.analyst)
        assert r.status_code == 503 and "refused the analyst graph user" in r.json["error"], r.json
    finally:
        secret.write_text(known)
    assert _post(client, "/v1/cypher", {"query": "RETURN 1 AS one"}, keys.analyst).json["rows"] == [[1]]


def test_arcadedb_does_not_enforce_read_access_mode(graph_server: Settings) -> None:
    """Why the clause scanner exists: over Bolt, ArcadeDB commits a CREATE run in a READ transaction."""
    with Graph(scratch_database(graph_server, "t")) as g:
        g.run_text("CREATE (:Probe {v: 1})", {}, read_only=True)
        assert g.run_text("MATCH (p:Probe) RETURN count(p) AS n", {}, read_only=True) == [{"n": 1}]


def test_a_write_past_the_scanner_is_still_rolled_back(graph_server: Settings) -> None:
    """The second line of defence: analyst statements run in a transaction that is always rolled back."""
    from mokg.analyst import _read

    with Graph(scratch_database(graph_server, "t")) as g:
        columns, rows, truncated_by = _read(g, "CREATE (p:Probe {v: 1}) RETURN p.v AS v", {}, 5.0, 10, 10_000)
        assert (columns, rows, truncated_by) == (["v"], [[1]], None)
        assert g.run_text("MATCH (p:Probe) RETURN count(p) AS n", {}, read_only=True) == [{"n": 0}]


WRITES = [
    "CREATE (:Probe {v: 1})",
    "MATCH (u:User) WITH u LIMIT 1 SET u.hacked = true RETURN u.user_id",
    "MERGE (p:Probe {v: 2}) RETURN p",
    "MATCH (u:User) WITH u LIMIT 1 DETACH DELETE u",
    "MATCH (u:User) WITH u LIMIT 1 REMOVE u.name RETURN 1",
    "MATCH (i:Item) WITH i LIMIT 1 FOREACH (x IN [1] | CREATE (:Probe))",
    "DROP CONSTRAINT user_id",
    "LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line",
    "MATCH (u:User) CALL { WITH u SET u.hacked = true } RETURN count(*)",
    "CALL db.create.setNodeVectorProperty(null, 'embedding', [1.0])",
    "RETURN 1; CREATE (:Probe)",
    "match (u:User) with u limit 1 set u.hacked = true return 1 // lower case",
]


@pytest.mark.parametrize("statement", WRITES)
def test_write_clauses_are_refused_and_nothing_changes(
    client: FlaskClient, served: Served, keys: Keys, statement: str
) -> None:
    def fingerprint() -> list[dict[str, Any]]:
        return client.post(
            "/v1/cypher",
            json={"query": "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS nodes, count(r) AS rels, "
                  "sum(CASE WHEN n.hacked THEN 1 ELSE 0 END) AS hacked, sum(CASE WHEN n:Probe THEN 1 ELSE 0 END) AS probes"},
            headers=_h(keys.analyst),
        ).json["rows"]  # fmt: skip

    before = fingerprint()
    r = _post(client, "/v1/cypher", {"query": statement}, keys.both)
    assert r.status_code == 403, r.json
    assert r.json["clause"]
    assert any(s in r.json["error"] for s in ("not allowed", "allow-list", "one statement"))
    assert fingerprint() == before
    assert before[0][2] == 0 and before[0][3] == 0


# -- service endpoints ------------------------------------------------------------------------------------


def test_healthz_checks_graph_and_broker(client: FlaskClient, served: Served) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok", "graph": {"ok": True}, "broker": {"ok": True}}
    down = create_app(served.settings.with_(bolt_port=1, broker_url="redis://127.0.0.1:1/0")).test_client()
    r = down.get("/healthz")
    assert r.status_code == 503 and r.json["status"] == "unavailable"
    assert r.json["graph"]["ok"] is False and r.json["broker"]["ok"] is False


def test_metrics_count_requests(client: FlaskClient, keys: Keys) -> None:
    client.get("/v1/items/NO-SUCH", headers=_h(keys.lookup))
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(
        r'mokg_http_requests_total\{endpoint="/v1/items/<asin>",method="GET",status="404"\} [1-9]', text
    )
    assert "mokg_http_request_seconds_bucket" in text


def test_page_and_static_files_are_served(client: FlaskClient) -> None:
    page = client.get("/")
    assert (
        page.status_code == 200 and b'id="audience-table"' in page.data and b'id="cypher-query"' in page.data
    )
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/nope.js").status_code == 404


def _spec_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_openapi_lists_every_route_and_states_the_code_bounds(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    routes = {
        (_spec_path(r.rule), m.lower())
        for r in app.url_map.iter_rules()
        for m in r.methods or ()
        if m not in ("HEAD", "OPTIONS")
    }
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert routes == documented
    req = spec["components"]["schemas"]["LookalikeRequest"]["properties"]
    assert req["k"]["maximum"] == audience.MAX_K
    assert req["seed_user_ids"]["maxItems"] == audience.MAX_SEEDS
    assert req["exclude_user_ids"]["maxItems"] == audience.MAX_EXCLUDE
    assert req["method"]["enum"] == list(audience.METHODS)
    assert req["seed_query"]["enum"] == audience.seed_query_names()
    cy = spec["components"]["schemas"]["CypherRequest"]["properties"]
    assert cy["limit"]["maximum"] == analyst.MAX_ROWS and cy["query"]["maxLength"] == analyst.MAX_QUERY_CHARS
    # the file on disk is the served document less the generated enum
    on_disk = json.loads(OPENAPI_PATH.read_text())
    on_disk["components"]["schemas"]["LookalikeRequest"]["properties"]["seed_query"]["enum"] = req[
        "seed_query"
    ]["enum"]
    assert on_disk == spec
