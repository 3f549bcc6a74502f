"""`mokg eval` end to end on real Gift_Cards reviews from the real graph server (small sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import GIFT_META, GIFT_REVIEWS, run_mokg

from mokg.glom.inductive import current_version
from mokg.graph import Graph
from mokg.ingest import ingest
from mokg.lookalike.evaluation import ABLATED, ABLATIONS, GLOM_VARIANTS
from mokg.lookalike.registry import BASELINE_NAMES
from mokg.lookalike.tuning import GRIDS

pytestmark = pytest.mark.integration


def test_eval_writes_every_model_row(fresh_graph: Graph, tmp_path: Path) -> None:
    ingest(fresh_graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path / "r.jsonl")
    out = tmp_path / "report"
    proc = run_mokg(
        "eval",
        "--dataset",
        "gift_slice",
        "--seeds",
        "2",
        "--dim",
        "16",
        "--pm-epochs",
        "10",
        "--epochs",
        "5",
        "--min-buyers",
        "30",
        "--tune-budget",
        "0",  # the search itself: tests/unit/test_tuning.py
        "--out",
        str(out),
        settings=fresh_graph.settings,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    models = [*BASELINE_NAMES, *GLOM_VARIANTS, *(f"{ABLATED} {a}" for a in ABLATIONS)]
    report = (out / "report.md").read_text()
    body = json.loads((out / "eval.json").read_text())
    for m in models:
        assert f"| {m} |" in report, m
        assert set(body["summary"][m]) == {
            "average_precision",
            "precision_at_k",
            "recall_at_k",
            "precision_at_t",
            "recall_at_t",
        }
        # mean ± std over the 2 seeds, and each seed's run is kept
        assert len([r for r in body["runs"] if r["model"] == m]) == 2
    assert body["n_tasks"]["test"] > 0 and "GLoM-Attn1 PR-AUC" in body["verdict"]
    # the ratio comes with its interval over the test tasks, each task's AP kept per run
    assert f"interval over its {body['n_tasks']['test']} test tasks" in body["verdict"]
    assert all(len(r["task_ap"]) == body["n_tasks"]["test"] for r in body["runs"])
    assert (out / "pr_curves.png").stat().st_size > 1000 and (out / "seed_size.png").stat().st_size > 1000
    # random scores sit near the positive rate (1:10 negatives), well below a perfect 1.0
    ap_random = body["summary"]["random"]["average_precision"][0]
    assert 0.05 < ap_random < 0.25
    assert "PR-AUC" in proc.stdout and "ratio" in proc.stdout
    # the activity weights tried are in the report and the JSON; a chosen non-zero one labels its row
    assert "standardised log(1 + items bought outside the split's task items" in report
    assert body["config"]["activity_weights"][0] == 0.0 and len(body["config"]["activity_weights"]) > 1
    assert "PR-AUC own ranking" in report and "without the activity term" in body["verdict"]
    for r in body["runs"]:  # the own ranking is the measured one exactly when no activity weight was chosen
        own, ap = r["own_ap"], r["metrics"]["average_precision"]
        assert 0.0 <= own <= 1.0 and ("activity" in r["method"] or own == ap), r
    plain = tmp_path / "plain"
    proc = run_mokg(
        "eval", "--quick", "--no-activity", "--dim", "16", "--pm-epochs", "5", "--min-buyers", "30",
        "--baselines", "popularity,lightgcn", "--out", str(plain), settings=fresh_graph.settings,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain_body = json.loads((plain / "eval.json").read_text())
    assert plain_body["config"]["activity_weights"] == [0.0]
    assert not [r for r in plain_body["runs"] if "activity" in r["method"]]
    assert "no activity term" in (plain / "report.md").read_text()
    # the finished units were kept until the report was written (resuming: tests/unit/test_eval_checkpoint.py);
    # a checkpoint some other configuration left is set aside, and the same command gives the same figures
    assert not (plain / "eval.checkpoint.jsonl").exists()
    (plain / "eval.checkpoint.jsonl").write_text(
        '{"fingerprint": "another run"}\n{"key": "run lightgcn 0", "value": {}}\n'
    )
    proc = run_mokg(
        "eval", "--quick", "--no-activity", "--dim", "16", "--pm-epochs", "5", "--min-buyers", "30",
        "--baselines", "popularity,lightgcn", "--out", str(plain), settings=fresh_graph.settings,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "was left by another configuration, data or code: starting afresh" in proc.stdout
    again = json.loads((plain / "eval.json").read_text())
    assert [r["metrics"] for r in again["runs"]] == [r["metrics"] for r in plain_body["runs"]]
    assert not (plain / "eval.checkpoint.jsonl").exists()
    # the two tuning options reach the protocol through the CLI and the report says what they did
    inner = tmp_path / "inner"
    proc = run_mokg(
        "eval", "--seeds", "2", "--no-ablations", "--dim", "16", "--pm-epochs", "5", "--min-buyers", "30",
        "--baselines", "popularity,lightgcn", "--tune-budget", "2", "--tune-on", "inner",
        "--tune-rule", "one_se", "--out", str(inner), settings=fresh_graph.settings,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    inner_body = json.loads((inner / "eval.json").read_text())
    assert inner_body["config"]["tune_on"] == "inner" and inner_body["config"]["tune_rule"] == "one_se"
    assert {t["rule"] for t in inner_body["tuning"].values()} == {"one_se"}
    inner_report = (inner / "report.md").read_text()
    assert "`--tune-on inner`" in inner_report and "`--tune-rule one_se`" in inner_report
    # `mokg train --tuned` trains with the values this search chose for GLoM-Attn1; an option given wins
    folder = fresh_graph.settings.home / "artifacts" / "glom"

    def trained_config(*args: str) -> dict[str, object]:
        proc = run_mokg("train", "--no-profiles", *args, settings=fresh_graph.settings)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "--tuned: GLoM-Attn1's values from" in " ".join(proc.stdout.split())
        version = current_version(folder)
        assert version is not None
        config: dict[str, object] = json.loads((folder / f"{version}.json").read_text())["config"]
        return config

    # a trial's values are changes to the eval's starting configuration (--dim 16 above), which holds
    # wherever the chosen trial left a value alone: where the start won, all of them
    start = inner_body["config"]["train"]
    chosen = {k: start[k] for k in GRIDS["glom"]} | inner_body["tuning"]["GLoM-Attn1"]["params"]
    config = trained_config("--tuned", str(inner), "--pm-epochs", "3")
    assert {k: config[k] for k in chosen if k != "pm_epochs"} == {
        k: v for k, v in chosen.items() if k != "pm_epochs"
    }
    assert config["pm_epochs"] == 3 and config["pm_large_graph_triples"] == 0  # the PM as the eval's
    # the search above may keep the start, so a record whose values differ from it shows they arrive
    record = tmp_path / "record.json"
    values = {"dim": 12, "layers": 2, "glm_share": 0.25, "margin": 5.0, "lr_pm": 0.05}
    record.write_text(
        json.dumps({"config": inner_body["config"], "tuning": {"GLoM-Attn1": {"params": values}}})
    )
    config = trained_config("--tuned", str(record), "--pm-epochs", "3", "--dim", "8")
    assert {k: config[k] for k in values} == {**values, "dim": 8} and config["pm_epochs"] == 3
    bad = run_mokg("train", "--tuned", str(record), "--aggregator", "mean", settings=fresh_graph.settings)
    assert bad.returncode == 2
    assert "GLoM-Mean was not tuned in this run; tuned: GLoM-Attn1" in " ".join(bad.stderr.split())
