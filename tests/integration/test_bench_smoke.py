"""The benchmarks still run (tiny inputs, no timing asserted): they must not rot between releases."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from conftest import FIXTURES, GIFT_REVIEWS, run_bench

from mokg.config import Settings

pytestmark = pytest.mark.integration


def test_bench_ingest_runs_and_reports_a_ratio(graph_server: Settings, tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    proc = run_bench(
        "ingest.py",
        "--reviews",
        str(FIXTURES / "amazon2023_reviews.jsonl"),
        "--repeat",
        "1",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["reviews"] == 5
    assert result["ingest_reviews_per_s_median"] > 0 and result["floor_rows_per_s_median"] > 0
    assert result["ratio"] == pytest.approx(
        result["ingest_reviews_per_s_median"] / result["floor_rows_per_s_median"], rel=0.01
    )
    assert "ratio" in proc.stdout
    # one warm-up pair by default: reported, not counted
    assert result["warmup"] == 1 and len(result["warmup_ratios"]) == 1 and result["warmup_ratios"][0] > 0
    assert "warm-up 1:" in proc.stderr and "not counted" in proc.stdout


def test_bench_train_runs_every_stage(graph_server: Settings, tmp_path: Path) -> None:
    out = tmp_path / "train.json"
    proc = run_bench(
        "train.py",
        "--reviews", str(FIXTURES / "amazon2023_reviews.jsonl"),
        "--meta", str(FIXTURES / "amazon2023_meta.jsonl"),
        "--pm-epochs", "2", "--glm-epochs", "1", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert list(result["stages"]) == ["ingest", "polarity", "read", "similarity", "pm+glm", "write-back"]
    assert result["n_users"] == 3 and all(v["peak_rss_mb"] > 0 for v in result["stages"].values())
    fit = result["stages"]["pm+glm"]
    # three figures rounded to 0.01 s each: the parts may exceed the whole by the rounding only
    assert fit["PM"] >= 0 and fit["GLM"] > 0 and fit["PM"] + fit["GLM"] <= fit["seconds"] + 0.015, fit
    # each learning stage beside its floor, measured in the same run
    assert set(result["floors"]) == {"similarity", "PM", "GLM"}
    assert all(v >= 0 for v in result["floors"].values()) and result["floors"]["PM"] > 0
    assert "against a floor of" in proc.stdout


def test_bench_stream_measures_latency_and_throughput(
    graph_server: Settings, broker_server: Settings, tmp_path: Path
) -> None:
    # a tiny slice of Gift_Cards: a tiny train, a real ingest worker, the held-back users streamed to it
    with gzip.open(GIFT_REVIEWS, "rt") as f:
        head = [line for _, line in zip(range(300), f, strict=False)]
    reviews = tmp_path / "gift_300.jsonl"
    reviews.write_text("".join(head))
    out = tmp_path / "stream.json"
    proc = run_bench(
        "stream.py", "--reviews", str(reviews), "--train-config", "dim=8,pm_epochs=2,glm_epochs=1",
        "--timeout", "300", "--quality", "--tasks", "all", "--min-buyers", "3", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert r["lines"] == 300 and 0 < r["held_lines"] < 300 and r["held_users"] > 0
    # the quality split's held-out reviews went nowhere: not in the base, the stream, nor `mokg ingest`
    assert r["heldout_lines_sent_nowhere"] > 0
    assert r["base"]["reviews_read"] + r["held_lines"] + r["heldout_lines_sent_nowhere"] == r["lines"]
    q = r["quality"]
    assert q["tasks"] > 0 and q["users_with_vector_stream"] >= r["embedded"]
    for k in ("ap_stream", "ap_retrain"):
        assert 0 < q[k] <= 1
    assert q["ratio"] == pytest.approx(q["ap_stream"] / q["ap_retrain"])
    assert "AP, all tasks" in proc.stdout
    assert r["embedded"] + r["never_embedded"] == r["held_users"] and r["embedded"] > 0
    assert sum(r["never_reasons"].values()) == r["never_embedded"]
    assert not r["stream"]["timed_out"] and r["stream"]["batches_done"] == r["stream"]["batches_sent"]
    # the worker's step timing, parsed from its log
    steps = r["stream"]["step_s_median"]
    assert list(steps) == ["wait", "write", "polarity", "similarity", "embedding"] and all(
        v >= 0 for v in steps.values()
    )
    # a step is part of its batch's task (logged to 0.01 s); medians do not add up, so each is bounded alone
    assert all(v <= max(r["stream"]["batch_s_all"]) + 0.01 for v in steps.values())
    assert 0 < r["latency_s"]["p50"] <= r["latency_s"]["p99"] <= r["latency_s"]["max"]
    assert r["ingest"]["reviews_read"] == r["held_lines"]
    assert r["ratio_stream_to_ingest"] == pytest.approx(
        r["stream"]["reviews_per_s"] / r["ingest"]["reviews_per_s"], rel=0.01
    )
    assert "ratio stream / ingest" in proc.stdout


def test_bench_fit_prepares_triples_and_trains_them_beside_their_floors(tmp_path: Path) -> None:
    kg, out = tmp_path / "kg.npz", tmp_path / "fit.json"
    inputs = ["--reviews", str(FIXTURES / "amazon2023_reviews.jsonl")]
    inputs += ["--meta", str(FIXTURES / "amazon2023_meta.jsonl")]
    env = dict(os.environ, MOKG_DEVICE="cpu")
    prep = run_bench("fit.py", "prepare", *inputs, "--out", str(kg), env=env, timeout=300)
    assert prep.returncode == 0, prep.stderr
    run = run_bench(
        "fit.py", "run", "--kg", str(kg), "--train-config", "pm_epochs=2,glm_epochs=1", "--json", str(out),
        env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["data"]["n_users"] == 3 and result["triples"] > 0
    assert result["config"]["pm_epochs"] == 2 and len(result["pm_loss_first_last"]) == 2
    assert set(result["floors"]) == {"PM", "GLM"} and result["floors"]["PM"] > 0 <= result["floors"]["GLM"]
    assert result["seconds"]["PM"] > 0 and "against a floor of" in run.stdout


def test_bench_served_answers_test_tasks_through_the_service(graph_server: Settings, tmp_path: Path) -> None:
    out = tmp_path / "served.json"
    proc = run_bench("served.py", "--reviews", str(GIFT_REVIEWS), "--seeds", "0", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())
    assert row["seed"] == 0 and row["test_tasks"] > 0 and row["held_out_reviews"] > 0
    assert all(0.0 < row[k] <= 1.0 for k in ("served_ap", "served_ap_restored", "method_ap"))
    assert row["model"] in {"glom", "pm"} and row["method"] in {"centroid", "max_seed", "logreg"}
    # without a term the served ranking is the recorded method's, whatever the graph's counts
    if row["activity_weight"] == 0.0:
        assert row["served_ap"] == row["method_ap"] == row["served_ap_restored"]
    assert "served_ap: mean" in proc.stdout and "method_ap: mean" in proc.stdout
