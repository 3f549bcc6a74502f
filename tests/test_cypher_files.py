"""Every .cypher file is executed by some test, and none builds text from input."""

from __future__ import annotations

import re

import pytest
from conftest import CYPHER_TRACE

from mokg.graph import cypher


def test_statements_are_parameterised_not_formatted() -> None:
    for name in cypher.names():
        text = cypher.load(name)
        # a Python format field would mean query text is meant to be built by str.format, not parameters
        assert not re.search(r"\{[a-z_]+\}", text), name


def test_every_cypher_file_runs(request: pytest.FixtureRequest) -> None:
    """Runs last (see conftest); meaningful only when the whole suite ran."""
    session = request.session
    if request.config.option.keyword or request.config.option.markexpr or session.testscollected < 20:
        pytest.skip("a partial run cannot prove coverage of every statement")
    ran = set(CYPHER_TRACE.read_text().split()) if CYPHER_TRACE.exists() else set()
    missing = sorted(set(cypher.names()) - ran)
    assert not missing, f"never executed by any test: {missing}"
