"""bench/pair.py still runs end to end (tiny input, no timing asserted): real worker, Valkey, ArcadeDB, llama.cpp.

One worker process mines one item of the two-item fixture (no warm-up: the smoke run does not care that the
timed run includes loading the embedder) with one relation, one sample per prompt and short answers; the
figures must be there, positive and consistent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, run_bench

from mokg.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.llm]


def test_bench_pair_runs_and_reports_a_consistent_ratio(
    graph_server: Settings, broker_server: Settings, llm_settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "pair.json"
    proc = run_bench(
        "pair.py",
        "--reviews", str(FIXTURES / "amazon2023_reviews.jsonl"),
        "--meta", str(FIXTURES / "amazon2023_meta.jsonl"),
        "--entities", "1", "--workers", "1", "--warmup", "0",
        "--relation", "COMPLEMENTARY_PRODUCT", "--n-samples", "1", "--max-tokens", "16", "--no-scorer",
        "--logs", str(tmp_path / "logs"), "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["entities"] == 1 and list(result["workers"]) == ["1"]
    row = result["workers"]["1"]
    assert (row["done"], row["failed"]) == (1, 0)
    assert row["llm_calls"] == 3 and row["cached_calls"] == 0  # 3 steps x 1 sample, all sent to the server
    for name in ("seconds", "completion_tokens", "entities_per_min", "tokens_per_s", "ratio"):
        assert row[name] > 0, (name, row)
    assert row["entities_per_min"] == pytest.approx(60 * row["done"] / row["seconds"])
    assert row["tokens_per_s"] == pytest.approx(row["completion_tokens"] / row["seconds"])
    floor = row["floor"]
    assert floor["requests"] == row["llm_calls"]  # the same prompts, replayed
    for name in (
        "completion_tokens",
        "seconds",
        "tokens_per_s",
        "entities_per_min",
        "sequential_tokens_per_s",
    ):
        assert floor[name] > 0, (name, floor)
    assert floor["tokens_per_s"] == pytest.approx(floor["completion_tokens"] / floor["seconds"])
    assert row["ratio"] == pytest.approx(row["tokens_per_s"] / floor["tokens_per_s"])
    assert "ratio workers/raw (1 worker(s))" in proc.stdout
