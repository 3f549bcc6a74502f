"""`mokg eval`'s verdict: the 1.05x target is met only when the ratio's interval over test tasks shows it."""

from __future__ import annotations

import numpy as np

from mokg.lookalike.evaluation import EvalConfig, EvalResult, ModelRun, verdict


def result_with(lifts: list[float]) -> EvalResult:
    """GLoM-Attn1 at ``lifts[k]`` × lightgcn's AP on test task k, one split."""
    res = EvalResult("toy", EvalConfig(seeds=(0,)), 100, 3, 180, {"test": len(lifts)}, 0)
    res.effective_neg_ratio, res.random_pr_auc = 10.0, 0.09
    base = np.linspace(0.2, 0.4, len(lifts))
    runs = []
    for model, fs in (("GLoM-Attn1", lifts), ("lightgcn", [1.0] * len(lifts))):
        aps = {f"I{k}": float(b * f) for k, (b, f) in enumerate(zip(base, fs, strict=True))}
        metrics = dict.fromkeys(("precision_at_k", "recall_at_k", "precision_at_t", "recall_at_t"), 0.5)
        metrics["average_precision"] = float(np.mean(list(aps.values())))
        runs.append(ModelRun(model, 0, "centroid", 1.0, metrics, {}, task_ap=aps))
    res.runs = runs
    return res


def test_the_target_is_met_only_when_the_interval_low_end_reaches_it() -> None:
    # every task 1.1x: every resample gives 1.1, so the interval shows the target
    clear = result_with([1.1] * 12)
    paired = clear.paired("GLoM-Attn1", "lightgcn")
    assert paired is not None and paired.low >= 1.05
    assert "(meets the 1.05x target)" in verdict(clear)
    # a point ratio above 1.05 whose interval lies above 1.0 but reaches below 1.05: ahead, target not shown
    spread = result_with([0.95, 1.25] * 6)
    paired = spread.paired("GLoM-Attn1", "lightgcn")
    ratio = (
        spread.summary("GLoM-Attn1")["average_precision"][0]
        / spread.summary("lightgcn")["average_precision"][0]
    )
    assert ratio >= 1.05 and paired is not None and 1.0 < paired.low < 1.05
    v = verdict(spread)
    assert "meets" not in v and "(ahead, but its interval does not show the 1.05x target)" in v
    assert "not shown: the interval holds 1.0" not in v
    # below the target by the point ratio
    assert "does NOT meet the 1.05x target" in verdict(result_with([1.01] * 12))
