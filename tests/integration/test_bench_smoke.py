"""The benchmarks still run (tiny inputs, no timing asserted): they must not rot between releases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO

from mokg.config import Settings

pytestmark = pytest.mark.integration


def test_bench_ingest_runs_and_reports_a_ratio(graph_server: Settings, tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "ingest.py"),
            "--reviews",
            str(FIXTURES / "amazon2023_reviews.jsonl"),
            "--repeat",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["reviews"] == 5
    assert result["ingest_reviews_per_s_median"] > 0 and result["floor_rows_per_s_median"] > 0
    assert result["ratio"] == pytest.approx(
        result["ingest_reviews_per_s_median"] / result["floor_rows_per_s_median"], rel=0.01
    )
    assert "ratio" in proc.stdout


def test_bench_train_runs_every_stage(graph_server: Settings, tmp_path: Path) -> None:
    out = tmp_path / "train.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "train.py"),
            "--reviews",
            str(FIXTURES / "amazon2023_reviews.jsonl"),
            "--meta",
            str(FIXTURES / "amazon2023_meta.jsonl"),
            "--pm-epochs",
            "2",
            "--glm-epochs",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert list(result["stages"]) == ["ingest", "polarity", "similarity", "pm+glm", "write-back"]
    assert result["n_users"] == 3 and all(v["peak_rss_mb"] > 0 for v in result["stages"].values())
    fit = result["stages"]["pm+glm"]
    # three figures rounded to 0.01 s each: the parts may exceed the whole by the rounding only
    assert fit["PM"] >= 0 and fit["GLM"] > 0 and fit["PM"] + fit["GLM"] <= fit["seconds"] + 0.015, fit
