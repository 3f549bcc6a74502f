"""The ArcadeDB HTTP client: its address comes from the configured graph URI, and every caller goes through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mokg.config import Settings
from mokg.graph import arcadedb_http
from mokg.graph.arcadedb_http import ArcadeDBError, ArcadeDBHttp
from mokg.graph.dialect import ArcadeDB, Neo4j
from mokg.stack.services import StackError, arcadedb_server_command


@pytest.mark.parametrize(
    ("graph_uri", "port", "expected"),
    [
        ("", 2480, "http://127.0.0.1:2480/api/v1"),  # the embedded server, on loopback
        ("bolt://graph.example.org:7687", 2480, "http://graph.example.org:2480/api/v1"),
        ("neo4j://10.1.2.3", 2481, "http://10.1.2.3:2481/api/v1"),
        ("bolt+s://Graph.Example.org:7687", 2480, "http://graph.example.org:2480/api/v1"),
        ("bolt://[fd00::5]:7687", 2480, "http://[fd00::5]:2480/api/v1"),
    ],
)
def test_the_http_api_is_on_the_host_of_the_graph_uri(graph_uri: str, port: int, expected: str) -> None:
    settings = Settings(graph_uri=graph_uri, arcadedb_http_port=port)
    assert settings.arcadedb_http_url == expected
    assert ArcadeDBHttp(settings).url == expected


@dataclass
class _Response:
    status_code: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"result": "ok"})

    @property
    def text(self) -> str:
        return str(self.body)

    def json(self) -> dict[str, Any]:
        return self.body


@dataclass
class _Server:
    """Stands in for `requests`: records every call, answers with ``response``."""

    response: _Response = field(default_factory=_Response)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def post(self, url: str, **kwargs: Any) -> _Response:
        self.calls.append(("POST", url, kwargs))
        return self.response

    def get(self, url: str, **kwargs: Any) -> _Response:
        self.calls.append(("GET", url, kwargs))
        return self.response


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> _Server:
    fake = _Server()
    monkeypatch.setattr(arcadedb_http, "requests", fake)
    return fake


REMOTE = Settings(
    graph_uri="bolt://db.internal:7687",
    arcadedb_http_port=2480,
    graph_user="root",
    graph_password="pw",
    graph_database="shop",
)
BASE = "http://db.internal:2480/api/v1"


def test_every_request_goes_to_the_configured_host_with_the_graph_user(server: _Server) -> None:
    client = ArcadeDBHttp(REMOTE)
    assert client.server_command("list databases") == {"result": "ok"}
    client.sql("CREATE PROPERTY Item.v IF NOT EXISTS ARRAY_OF_FLOATS")
    server.response = _Response(body={"result": [{"indexes": []}]})
    assert client.query("SELECT indexes FROM schema:types WHERE name = :t", {"t": "Item"}) == [
        {"indexes": []}
    ]
    assert client.ready()
    assert ArcadeDBHttp(REMOTE, auth=("analyst", "secret")).accepts_login()
    assert [(m, url) for m, url, _ in server.calls] == [
        ("POST", f"{BASE}/server"),
        ("POST", f"{BASE}/command/shop"),
        ("POST", f"{BASE}/query/shop"),
        ("GET", f"{BASE}/ready"),
        ("GET", f"{BASE}/databases"),
    ]
    auths = [kw.get("auth") for _, _, kw in server.calls]
    assert auths == [("root", "pw"), ("root", "pw"), ("root", "pw"), None, ("analyst", "secret")]
    assert server.calls[0][2]["json"] == {"command": "list databases"}
    assert server.calls[1][2]["json"]["language"] == "sql"
    assert server.calls[2][2]["json"]["params"] == {"t": "Item"}


def test_a_refusal_is_an_arcadedb_error(server: _Server) -> None:
    server.response = _Response(status_code=403, body={"error": "forbidden"})
    with pytest.raises(ArcadeDBError, match="ArcadeDB HTTP 403"):
        ArcadeDBHttp(REMOTE).server_command("list databases")
    with pytest.raises(ArcadeDBError, match="SQL failed \\(403\\)"):
        ArcadeDBHttp(REMOTE).sql("CREATE INDEX x")
    with pytest.raises(ArcadeDBError, match="SQL failed \\(403\\)"):
        ArcadeDBHttp(REMOTE).query("SELECT FROM schema:types", {})
    assert not ArcadeDBHttp(REMOTE).ready()
    assert not ArcadeDBHttp(REMOTE).accepts_login()


def _index(name: str, dim: int) -> dict[str, Any]:
    return {"name": name, "type": "LSM_VECTOR", "properties": ["vec"], "dimensions": dim}


def test_the_dialect_and_the_stack_use_the_one_client(server: _Server) -> None:
    server.response = _Response(body={"result": []})
    ArcadeDB(REMOTE).create_vector_index(graph=None, label="Item", prop="vec", dim=8)  # type: ignore[arg-type]
    arcadedb_server_command(REMOTE, "list databases")
    assert [url for _, url, _ in server.calls] == [
        f"{BASE}/command/shop",
        f"{BASE}/query/shop",
        f"{BASE}/command/shop",
        f"{BASE}/server",
    ]
    server.response = _Response(status_code=500)
    with pytest.raises(StackError, match="ArcadeDB HTTP 500"):
        arcadedb_server_command(REMOTE, "list databases")


@pytest.mark.parametrize(("indexed", "dropped"), [(None, False), (8, False), (4, True)])
def test_arcadedb_drops_a_vector_index_only_of_another_dimension(
    server: _Server, indexed: int | None, dropped: bool
) -> None:
    # ArcadeDB refuses IF NOT EXISTS over an index of another dimension; any other refusal must surface
    rows = [] if indexed is None else [_index("Item[vec]", indexed), _index("Item_0_1", 3)]
    server.response = _Response(body={"result": [{"indexes": rows}]})
    ArcadeDB(REMOTE).create_vector_index(graph=None, label="Item", prop="vec", dim=8)  # type: ignore[arg-type]
    commands = [kw["json"]["command"] for _, url, kw in server.calls if "/command/" in url]
    assert ("DROP INDEX `Item[vec]` IF EXISTS" in commands) is dropped and len(commands) == 2 + dropped
    assert "dimensions: 8" in commands[-1]
    server.response = _Response(status_code=500, body={"error": "Cannot execute command"})
    with pytest.raises(ArcadeDBError, match="SQL failed \\(500\\)"):
        ArcadeDB(REMOTE).create_vector_index(graph=None, label="Item", prop="vec", dim=8)  # type: ignore[arg-type]


@dataclass
class _Cypher:
    """Stands in for the Graph a dialect is given: records each statement, answers SHOW with ``shown``."""

    shown: list[dict[str, Any]]
    statements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def run_text(self, text: str, params: dict[str, Any], *, read_only: bool = False) -> list[dict[str, Any]]:
        self.statements.append((text, params))
        return self.shown if text.startswith("SHOW") else []


def _neo4j_index(name: str, dim: int) -> dict[str, Any]:
    return {"name": name, "options": {"indexConfig": {"vector.dimensions": dim}}}


@pytest.mark.parametrize(
    ("shown", "drops"),
    [
        ([], []),
        ([_neo4j_index("item_vec", 8)], []),
        ([_neo4j_index("item_vec", 4)], ["DROP INDEX `item_vec` IF EXISTS"]),
        ([_neo4j_index("by`hand", 8)], ["DROP INDEX `by``hand` IF EXISTS"]),  # queries name item_vec
    ],
)
def test_neo4j_keeps_only_its_own_vector_index_of_the_asked_dimension(
    shown: list[dict[str, Any]], drops: list[str]
) -> None:
    graph = _Cypher(shown)
    Neo4j(REMOTE).create_vector_index(graph, "Item", "vec", 8)
    (show, params), *rest = graph.statements
    assert show.startswith("SHOW VECTOR INDEXES") and params == {"label": "Item", "prop": "vec"}
    assert [text for text, _ in rest[:-1]] == drops
    assert rest[-1][0].startswith("CREATE VECTOR INDEX item_vec IF NOT EXISTS FOR (n:Item) ON (n.vec)")
    assert "`vector.dimensions`: 8" in rest[-1][0]
