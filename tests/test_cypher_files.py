"""Every .cypher file is executed by some test, and none builds text from input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cypher_trace
import pytest
from conftest import CYPHER_TRACE

from mokg.graph import Graph, cypher


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


_RUN_ONE = """
import sys
from mokg.graph.connection import Graph

class Session:  # runs nothing: the record is what is tested
    def __enter__(self): return self
    def __exit__(self, *exc): return None
    def execute_read(self, fn, text, params): return []

graph = Graph.__new__(Graph)
graph.session = lambda read_only=False: Session()
graph.query(sys.argv[1])
try:
    graph.query("no/such/statement")
except Exception as e:
    print(type(e).__name__)
"""


def test_the_trace_covers_this_process_and_the_processes_it_starts(tmp_path: Path) -> None:
    assert all(getattr(getattr(Graph, m), "__cypher_traced__", False) for m in cypher_trace.METHODS)
    trace = tmp_path / "trace.txt"
    name = cypher.names()[0]
    env = {**os.environ, cypher_trace.ENV: str(trace)}  # PYTHONPATH (conftest) brings the sitecustomize
    done = subprocess.run(
        [sys.executable, "-c", _RUN_ONE, name], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "CypherNotFound"
    assert trace.read_text().split() == [name]  # the unknown name is not recorded
