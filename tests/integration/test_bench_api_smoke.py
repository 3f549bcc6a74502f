"""bench/api.py still runs end to end (tiny, no timing asserted): `mokg serve` starts gunicorn on loopback,
lookalike requests and the driver floor both answer without errors, and the ratios are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_bench
from served_graph import Served, served_graph

from mokg.config import Settings

pytestmark = pytest.mark.integration


def test_bench_api_runs_and_reports_ratios(
    graph_server: Settings, broker_server: Settings, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    served: Served = served_graph(graph_server, tmp_path_factory.getbasetemp())
    out = tmp_path / "api.json"
    proc = run_bench(
        "api.py", "--database", served.settings.graph_database, "--requests", "12", "--concurrency", "1,4",
        "--k", "20", "--seeds", "10", "--workers", "1", "--threads", "4", "--json", str(out), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 4]
    for lv in result["levels"]:
        assert lv["api"]["errors"] == 0 and lv["floor"]["errors"] == 0
        assert lv["api"]["requests"] == 12 and lv["floor"]["requests"] == 12
        assert lv["p99_ratio"] == pytest.approx(lv["api"]["p99_ms"] / lv["floor"]["p99_ms"], abs=0.01)
    assert "throughput" in proc.stdout and result["dim"] == 32


def test_bench_analyst_load_runs_both_sides(
    graph_server: Settings, broker_server: Settings, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """bench/analyst_load.py end to end, tiny: the analysts (their own process) are answered and counted, and
    the lookups beside them all succeed."""
    served: Served = served_graph(graph_server, tmp_path_factory.getbasetemp())
    out = tmp_path / "analyst_load.json"
    proc = run_bench(
        "analyst_load.py", "--database", served.settings.graph_database, "--requests", "10", "--rounds", "1",
        "--analysts", "3", "--analyst-timeout", "1", "--seeds", "3", "--workers", "1", "--threads", "8",
        "--json", str(out), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["alone"]["n"] == 10 and result["loaded"]["n"] == 10
    assert result["errors"] == {"alone": 0, "loaded": 0}
    statuses = result["analyst_statuses"]
    assert statuses.get("504", 0) >= 1 and set(statuses) <= {"429", "504"}
    assert result["analyst_requests_per_client_s"] > 0
    assert "p99 ratio" in proc.stdout
