"""The ArcadeDB HTTP client: its address comes from the configured graph URI, and every caller goes through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mokg.config import Settings
from mokg.graph import arcadedb_http
from mokg.graph.arcadedb_http import ArcadeDBError, ArcadeDBHttp
from mokg.graph.dialect import ArcadeDB
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
    assert client.ready()
    assert ArcadeDBHttp(REMOTE, auth=("analyst", "secret")).accepts_login()
    assert [(m, url) for m, url, _ in server.calls] == [
        ("POST", f"{BASE}/server"),
        ("POST", f"{BASE}/command/shop"),
        ("GET", f"{BASE}/ready"),
        ("GET", f"{BASE}/databases"),
    ]
    auths = [kw.get("auth") for _, _, kw in server.calls]
    assert auths == [("root", "pw"), ("root", "pw"), None, ("analyst", "secret")]
    assert server.calls[0][2]["json"] == {"command": "list databases"}
    assert server.calls[1][2]["json"]["language"] == "sql"


def test_a_refusal_is_an_arcadedb_error(server: _Server) -> None:
    server.response = _Response(status_code=403, body={"error": "forbidden"})
    with pytest.raises(ArcadeDBError, match="ArcadeDB HTTP 403"):
        ArcadeDBHttp(REMOTE).server_command("list databases")
    with pytest.raises(ArcadeDBError, match="SQL failed \\(403\\)"):
        ArcadeDBHttp(REMOTE).sql("CREATE INDEX x")
    assert not ArcadeDBHttp(REMOTE).ready()
    assert not ArcadeDBHttp(REMOTE).accepts_login()


def test_the_dialect_and_the_stack_use_the_one_client(server: _Server) -> None:
    ArcadeDB(REMOTE).create_vector_index(graph=None, label="Item", prop="vec", dim=8)  # type: ignore[arg-type]
    arcadedb_server_command(REMOTE, "list databases")
    assert [url for _, url, _ in server.calls] == [
        f"{BASE}/command/shop",
        f"{BASE}/command/shop",
        f"{BASE}/server",
    ]
    server.response = _Response(status_code=500)
    with pytest.raises(StackError, match="ArcadeDB HTTP 500"):
        arcadedb_server_command(REMOTE, "list databases")
