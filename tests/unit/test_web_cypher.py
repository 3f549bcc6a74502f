"""``POST /v1/cypher`` (and the params of ``POST /v1/lookalike``) without a graph server: the app with its real
runner, which talks to a stand-in server. Bad input and misconfiguration get a JSON 4xx/503, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j.exceptions
import pytest
from analyst_fakes import FakeServer
from flask import Flask
from flask.testing import FlaskClient

from mokg.apikeys import ApiKey
from mokg.apps.web.app import create_app
from mokg.config import Settings

H = {"Authorization": "Bearer any"}


class _Keys:
    def verify(self, token: str) -> ApiKey:
        return ApiKey("k1", ("lookup", "analyst"), "test", "", False)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(Settings(home=tmp_path, analyst_graph_password="unused"))
    app.extensions["mokg"].__dict__["keys"] = _Keys()
    yield app


def _client(app: Flask, monkeypatch: pytest.MonkeyPatch, **server: Any) -> FlaskClient:
    FakeServer(**server).install(monkeypatch)
    return app.test_client()


def _nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize("value", [2**63, 2**64 - 1])
def test_an_integer_param_past_64_bits_is_a_400_naming_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch, value: int
) -> None:
    client = _client(app, monkeypatch, values=[1])
    r = client.post("/v1/cypher", json={"query": "RETURN $big AS x", "params": {"big": value}}, headers=H)
    assert r.status_code == 400 and r.json is not None
    assert r.json["field"] == "params.big" and "64 bits" in r.json["error"]
    r = client.post(
        "/v1/lookalike", json={"seed_query": "store_buyers", "params": {"store": "x", "n": value}}, headers=H
    )
    assert r.status_code == 400 and r.json is not None and r.json["field"] == "params.n"


def test_integer_params_within_64_bits_pass(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(app, monkeypatch, values=[1])
    for value in (2**63 - 1, -(2**63), 0):
        r = client.post("/v1/cypher", json={"query": "RETURN $n AS x", "params": {"n": value}}, headers=H)
        assert r.status_code == 200, (value, r.json)


def test_a_result_nested_too_deep_is_a_400_not_a_500(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(app, monkeypatch, values=[_nested(300)])
    r = client.post(
        "/v1/cypher", json={"query": "RETURN reduce(x = [], i IN range(1, 300) | [x])"}, headers=H
    )
    assert r.status_code == 400 and r.json is not None
    assert r.json["field"] == "query" and "deeper than 100 levels" in r.json["error"]


def test_a_result_at_the_depth_bound_is_answered(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(app, monkeypatch, values=[_nested(100)])
    r = client.post("/v1/cypher", json={"query": "RETURN reduce(x = [], i IN range(1, 99) | [x])"}, headers=H)
    assert r.status_code == 200 and r.json is not None and r.json["rows"] == [[_nested(100)]]


def test_a_refused_analyst_graph_user_is_a_503(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(app, monkeypatch, login_error=neo4j.exceptions.AuthError("The client is unauthorized"))
    r = client.post("/v1/cypher", json={"query": "RETURN 1 AS one"}, headers=H)
    assert r.status_code == 503 and r.json is not None
    assert "refused the analyst graph user" in r.json["error"] and "field" not in r.json


@pytest.mark.parametrize("query", ["", "   ", "// only a comment", "/* nothing */ ;"])
def test_an_empty_statement_is_a_400_on_the_query(
    app: Flask, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    client = _client(app, monkeypatch)
    r = client.post("/v1/cypher", json={"query": query}, headers=H)
    assert r.status_code == 400 and r.json is not None and r.json["field"] == "query", r.json


def test_a_timeout_the_server_did_not_confirm_is_a_504_that_says_so(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(app, monkeypatch, run_s=1.0, cancel_from_s=None)
    app.extensions["mokg"].analyst.cancel_wait_s = 0.2
    r = client.post("/v1/cypher", json={"query": "RETURN 1 AS one", "timeout_s": 0.1}, headers=H)
    assert r.status_code == 504 and r.json is not None
    assert "had not confirmed" in r.json["error"] and "was stopped" not in r.json["error"]
    app.extensions["mokg"].analyst._pool.shutdown(wait=True)
