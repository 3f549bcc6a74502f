"""Schemathesis against /openapi.json on the app over the real graph: no 500s, and every response conforms to
the document (status code, content type, body schema), for schema-valid and schema-invalid requests alike;
invalid ones must be refused, so the validation and the document agree.

Schemathesis's own pytest loader (``from_fixture``) does not run under pytest 9, so each operation's
Hypothesis strategy is driven here with ``@given``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from served_graph import ENTITY, STARBUCKS, Served

from mokg.apikeys import create_key
from mokg.apps.web.app import OPENAPI_PATH, create_app
from mokg.graph import Graph

pytestmark = pytest.mark.integration
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
OPERATIONS = [(m.upper(), p) for p, ops in json.loads(OPENAPI_PATH.read_text())["paths"].items() for m in ops]


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    with Graph(served.settings) as g:
        return create_key(g, ["lookup", "analyst"], name="schemathesis").token


@pytest.fixture(scope="module")
def api_schema(served: Served) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(served.settings, cypher_timeout_s=2.0)
    yield schemathesis.openapi.from_wsgi("/openapi.json", app)
    app.extensions["mokg"].close()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_conforms_to_the_openapi_document(
    api_schema: schemathesis.BaseSchema, served: Served, token: str, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    # random path parameters only ever find 404s: known ones make the 200 responses face the schema too
    known = {"user_id": served.similar_pairs[0][0], "asin": STARBUCKS, "name": ENTITY, "filename": "app.js"}
    names = [p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"]
    if names:
        strategies.append(operation.as_strategy(path_parameters={n: known[n] for n in names}))
    strategy = st.one_of(*strategies)
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=strategy)
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
