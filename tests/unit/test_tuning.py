"""Equal-budget hyperparameter search on validation tasks (tuning.py), PM/GLoM under the baseline protocol
(glom_model.py), and the evaluation's use of both."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import torch
from test_baselines import planted

from mokg.apps.cli.evaluate import eval_cmd
from mokg.glom.data import KGData, Reviews, TrainConfig
from mokg.lookalike import evaluation
from mokg.lookalike.baselines import LogisticRegressionBaseline, TrainData
from mokg.lookalike.evaluation import INNER_TASKS, TUNE_ON, EvalConfig, evaluate_kg, write_report
from mokg.lookalike.glom_model import PM_FIELDS, GLoMModel, PMCache, ReviewIndex
from mokg.lookalike.metrics import average_precision
from mokg.lookalike.protocol import Split, build_split, inner_split
from mokg.lookalike.registry import BASELINE_NAMES, make_baseline
from mokg.lookalike.tuning import GRIDS, RULES, clear_lead, configurations, grid_of, tune, tuned_params

torch.set_num_threads(1)


def test_configurations_start_with_the_defaults_and_are_distinct_points_of_the_grid() -> None:
    for stream, grid in GRIDS.items():
        configs = configurations(stream, grid, 6, seed=0)
        assert len(configs) == 6 and configs[0] == {}
        for c in configs[1:]:
            assert set(c) == set(grid) and all(c[k] in grid[k] for k in c)
        n_points = int(np.prod([len(v) for v in grid.values()]))
        distinct = {tuple(sorted(c.items())) for c in configs[1:]}
        assert len(distinct) == min(5, n_points), stream
        assert configurations(stream, grid, 6, seed=0) == configs  # reproducible
    assert configurations("lightgcn", GRIDS["lightgcn"], 0, seed=0) == []
    assert configurations("lightgcn", GRIDS["lightgcn"], 6, seed=1) != configurations(
        "lightgcn", GRIDS["lightgcn"], 6, seed=0
    )


def test_pm_gets_the_pm_part_of_glom_draws_and_every_model_the_same_budget() -> None:
    pm_stream, pm_grid = grid_of("PM")  # type: ignore[misc]
    glom_stream, glom_grid = grid_of("GLoM-Attn1")  # type: ignore[misc]
    assert pm_stream == glom_stream == "glom" and set(pm_grid) < set(glom_grid)
    pm = configurations(pm_stream, pm_grid, 8, seed=3)
    glom = configurations(glom_stream, glom_grid, 8, seed=3)
    assert [{k: v for k, v in g.items() if k in pm_grid} for g in glom] == pm
    assert len({tuple(sorted(c.items())) for c in pm[1:]}) == 7  # PM's own trials are distinct too
    # the paper's grid for d and lr wherever a model has them; nothing to tune for random / popularity
    for name in ("lightgcn", "transe", "graphsage", "GLoM-Mean"):
        spec = grid_of(name)
        assert spec is not None and tuple(spec[1]["dim"]) == (25, 50, 100, 150, 200)
    assert grid_of("random") is None and grid_of("popularity") is None
    assert {n for n in BASELINE_NAMES if grid_of(n) is not None} == set(BASELINE_NAMES) - {
        "random",
        "popularity",
    }


def test_a_key_added_to_the_later_glom_group_leaves_the_earlier_draws_as_they_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tuned figures measured before ``glm_share`` joined the grid stay comparable: same PM and GLM draws."""
    with_share = configurations("glom", GRIDS["glom"], 8, seed=5)
    without = {k: v for k, v in GRIDS["glom"].items() if k != "glm_share"}
    monkeypatch.setitem(GRIDS, "glom", without)
    before = configurations("glom", without, 8, seed=5)
    assert [{k: v for k, v in c.items() if k != "glm_share"} for c in with_share] == before
    assert {c["glm_share"] for c in with_share[1:]} <= {0.25, 0.5, 0.75}


def test_tune_keeps_the_defaults_on_ties_and_takes_the_best_otherwise() -> None:
    flat = tune("lightgcn", lambda params: ([0.5, 0.5, 0.5], "centroid"), budget=4)
    assert flat is not None and flat.params == {} and len(flat.trials) == 4
    seen: list[dict[str, Any]] = []

    def prefers_big(params: dict[str, Any]) -> tuple[list[float], str]:
        seen.append(params)
        return [params.get("dim", 32) / 1000 + e for e in (0.0, 0.001, -0.001)], "logreg"

    best = tune("lightgcn", prefers_big, budget=5, seed=2)
    assert best is not None and len(seen) == 5 and best.rule == "best"
    assert best.params["dim"] == max(p.get("dim", 32) for p in seen)
    assert best.best.validation_ap >= best.default_ap and best.best.method == "logreg"
    assert best.best.task_aps == pytest.approx([best.params["dim"] / 1000 + e for e in (0.0, 0.001, -0.001)])
    assert tune("random", prefers_big, budget=5) is None and tune("lightgcn", prefers_big, budget=0) is None
    with pytest.raises(ValueError, match="tuning rule 'max'"):
        tune("lightgcn", prefers_big, budget=2, rule="max")
    (option,) = [p for p in eval_cmd.params if p.name == "tune_rule"]
    assert isinstance(option.type, click.Choice) and tuple(option.type.choices) == RULES == (
        option.default,
        "one_se",
    )


def test_one_se_keeps_the_defaults_against_a_lead_within_the_tasks_noise() -> None:
    defaults = [0.30, 0.50, 0.70, 0.40]

    def noisy(params: dict[str, Any]) -> tuple[list[float], str]:
        if not params:
            return defaults, "centroid"
        # a higher mean, won on one task and lost on two: its lead (0.0125) is below one standard error
        return [0.45, 0.45, 0.65, 0.40], "centroid"

    for rule, expect_defaults in (("one_se", True), ("best", False)):
        t = tune("lightgcn", noisy, budget=3, rule=rule)
        assert t is not None and t.top.params != {} and t.top.validation_ap > t.default_ap
        assert (t.params == {}) is expect_defaults
    # the same lead on every task is clear: one_se takes it
    steady = tune(
        "lightgcn", lambda p: ([a + 0.0125 * bool(p) for a in defaults], "centroid"), budget=3, rule="one_se"
    )
    assert steady is not None and steady.params != {}
    # a lead between one standard error (0.0085) and one standard deviation (0.017) of its differences is
    # clear; one below the standard error is not
    assert clear_lead([0.03, 0.01, 0.02, -0.01], [0.0] * 4)
    assert not clear_lead([0.03, -0.01, 0.02, -0.02], [0.0] * 4)
    assert clear_lead([0.01], [0.0]) and not clear_lead([], [])  # one task: any lead; none: no lead


def _toy_kg(seed: int = 0) -> KGData:
    users, items, _, n_items, cats = planted(seed, n_users=240, n_comm=3, items_per=10)
    rng = np.random.default_rng(seed)
    ratings = rng.integers(3, 6, users.size).astype(np.float64)
    return KGData(
        reviews=Reviews(
            [f"U{u:03d}" for u in users], [f"I{i:02d}" for i in items], ratings, (ratings - 3.0) / 2.0
        ),
        items=[f"I{i:02d}" for i in range(n_items)],
        supkg=[(f"I{i:02d}", "IN_CATEGORY", f"c:{c[0]}") for i, c in enumerate(cats)],
    )


def test_glom_model_fits_on_the_split_training_data_only_and_shares_its_pm() -> None:
    kg = _toy_kg()
    ix = ReviewIndex.of(kg)
    split = build_split(ix.u_idx, ix.i_idx, n_users=len(ix.users), n_items=len(ix.items), min_buyers=20)
    train = TrainData.from_split(split, ix.u_idx, ix.i_idx)
    cfg = TrainConfig(dim=16, pm_epochs=8, glm_epochs=2, use_profiles=False, seed=1)
    cache = PMCache()
    pm = GLoMModel(kg, ix, cfg, pm_only=True, cache=cache)
    pm.fit(train)
    glom = GLoMModel(kg, ix, cfg, cache=cache)
    glom.fit(train)
    assert len(cache.pms) == 1 and len(cache.graphs) == 1  # GLoM reused the PM's fit
    (graph,) = cache.graphs.values()
    held = {(ix.users[u], ix.items[i]) for u, i in split.heldout}
    kept = set(zip(graph.reviews.user, graph.reviews.item, strict=True))
    assert kept and not kept & held  # no held-out edge in what the model trained on
    for model in (pm, glom):
        assert model.user_embeddings is not None and model.user_embeddings.shape == (len(ix.users), 16)
        for task in split.test[:3]:
            scores = model.score(task)
            assert scores.shape == task.candidates.shape and np.isfinite(scores).all()
    # PM on planted communities ranks held-out buyers above random
    ap = np.mean([average_precision(pm.score(t), t.labels) for t in split.tasks])
    assert ap > np.mean([t.labels.mean() for t in split.tasks]) + 0.05
    # the same training data again: same PM, so the same embeddings (seeded)
    again = GLoMModel(kg, ix, cfg, pm_only=True)
    again.fit(train)
    assert np.allclose(again.user_embeddings, pm.user_embeddings)  # type: ignore[arg-type]


def test_make_baseline_takes_tuned_parameters() -> None:
    model = make_baseline("lightgcn", seed=3, dim=25, lr=0.05)
    assert (model.dim, model.lr, model.seed) == (25, 0.05, 3)  # type: ignore[attr-defined]
    assert make_baseline("cf_pearson", use_ratings=True).use_ratings  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        make_baseline("lightgcn", nonsense=1)


@pytest.mark.parametrize("rule", RULES)
def test_evaluate_kg_tunes_on_validation_and_reports_the_choice(tmp_path: Any, rule: str) -> None:
    kg = _toy_kg(1)
    cfg = EvalConfig(
        seeds=(0, 1),
        baselines=("random", "cf_pearson", "lr"),
        ablations=False,
        seed_sizes=(1, 5),
        tune_budget=2,
        tune_rule=rule,
        train=TrainConfig(dim=8, pm_epochs=3, glm_epochs=1, use_profiles=False),
    )
    # keep the GLoM grid cheap for a unit test: the search machinery, not the values, is under test
    small = {"dim": (8, 12), "lr_pm": (0.01,), "margin": (1.0,), "pm_epochs": (3,), "lr_glm": (0.005,)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(GRIDS, "glom", small | {"glm_epochs": (1,)})
        seen: dict[str, list[int]] = {}

        def progress(label: str, total: int | None) -> Callable[[int], None]:
            seen[label] = [total or 0]
            return seen[label].append

        result = evaluate_kg(kg, cfg, dataset="toy", progress=progress)
    assert set(result.tuning) == {"cf_pearson", "lr", "PM", "GLoM-Mean", "GLoM-Attn1", "GLoM-Attn2"}
    # every trial is fitted on both tuning splits (tune_splits=2, the default), then each seed's models once
    (counts,) = seen.values()
    n_models = len({r.model for r in result.runs})
    assert counts[0] == len(result.tuning) * 2 * 2 + 2 * n_models == counts[-1]
    for t in result.tuning.values():
        assert len(t.trials) == 2 and t.trials[0].params == {}
        assert t.best.validation_ap >= t.default_ap and t.rule == rule
        # the one-SE rule pairs trials task by task: one AP per validation task, averaging to the trial's AP
        for trial in t.trials:
            assert len(trial.task_aps) == result.n_tasks["validation"]
            assert np.mean(trial.task_aps) == pytest.approx(trial.validation_ap, abs=1e-4)
    # both seeds share one partition of tasks: the validation items never appear as test items
    ix = ReviewIndex.of(kg)
    splits = [
        build_split(
            ix.u_idx, ix.i_idx, n_users=len(ix.users), n_items=len(ix.items), seed=s, partition_seed=0
        )
        for s in (0, 1)
    ]
    assert [t.item for t in splits[0].validation] == [t.item for t in splits[1].validation]
    assert not {t.item for t in splits[0].validation} & {t.item for s in splits for t in s.test}
    assert len([r for r in result.runs if r.model == "GLoM-Attn1"]) == 2
    paths = write_report(result, tmp_path)
    # `mokg train --tuned` reads back what the report wrote
    start = {k: getattr(cfg.train, k) for k in GRIDS["glom"]}
    assert tuned_params(tmp_path, "GLoM-Attn1") == start | result.tuning["GLoM-Attn1"].params
    report = paths["markdown"].read_text()
    assert "Hyperparameters — chosen on validation tasks" in report and "| GLoM-Attn1 |" in report
    assert "fitted on the splits of seeds 0, 1" in report
    assert ("more than one standard error" in report) is ("val AP best trial" in report) is (rule == "one_se")
    assert ("on any lead" in report) is (rule == "best")


def test_tuning_on_inner_tasks_fits_without_their_positives_and_scores_every_one(tmp_path: Any) -> None:
    kg = _toy_kg(1)
    cfg = EvalConfig(
        seeds=(0, 1),
        baselines=("lr",),
        ablations=False,
        seed_sizes=(1,),
        tune_budget=2,
        tune_on="inner",
        train=TrainConfig(dim=8, pm_epochs=3, glm_epochs=1, use_profiles=False),
        # items have 38-53 buyers: 17 are tasks, and the other 13 the inner tasks
        min_buyers=46,
    )
    inner: list[Split] = []
    outer: list[Split] = []
    fitted: list[TrainData] = []

    def recording_inner_split(*args: Any, **kwargs: Any) -> tuple[Split, np.ndarray]:
        out = inner_split(*args, **kwargs)
        inner.append(out[0])
        outer.append(args[0])
        return out

    class Recording(LogisticRegressionBaseline):
        def fit(self, train: TrainData) -> None:
            fitted.append(train)
            super().fit(train)

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(GRIDS, "glom", {"dim": (8, 12), "lr_pm": (0.01,), "margin": (1.0,), "pm_epochs": (3,)})
        mp.setattr(evaluation, "inner_split", recording_inner_split)
        mp.setattr(evaluation, "make_baseline", lambda name, seed, **kw: Recording(seed=seed, **kw))
        result = evaluate_kg(kg, cfg, dataset="toy")
    assert len(inner) == 2 and all(s.validation and not s.test for s in inner)
    # no evaluation task (validation or test) is an inner task: a test item's seeds in one split are partly
    # another split's test positives, so its inner labels would be test labels
    evaluated = {t.item for s in outer for t in s.tasks}
    assert evaluated and not evaluated & {t.item for s in inner for t in s.validation}
    test_edges = {(int(x), t.item) for s in outer for t in s.test for x in t.positives}
    assert not test_edges & {(int(x), t.item) for s in inner for t in s.validation for x in t.positives}
    # lr's tuning fits come first (2 trials × 2 splits, in split order): none trains on its inner positives
    for k, train in enumerate(fitted[:4]):
        held = inner[k % 2].heldout
        assert np.asarray(train.interactions[held[:, 0], held[:, 1]]).ravel().max() == 0
    # and the final fits of seeds 0 and 1 are not the tuning fits' data
    assert fitted[4].interactions.nnz > fitted[0].interactions.nnz
    # every trial is scored on both splits' inner tasks, side by side
    n_inner = sum(len(s.validation) for s in inner)
    assert {len(trial.task_aps) for t in result.tuning.values() for trial in t.trials} == {n_inner}
    assert n_inner > 2 * result.n_tasks["validation"]
    report = write_report(result, tmp_path)["markdown"].read_text()
    assert "tasks built inside their training reviews (`--tune-on inner`" in report
    assert "inner-task AP chosen" in report and "val AP" not in report
    (option,) = [p for p in eval_cmd.params if p.name == "tune_on"]
    assert isinstance(option.type, click.Choice) and tuple(option.type.choices) == TUNE_ON
    assert option.help and f"up to {INNER_TASKS} tasks" in option.help
    with pytest.raises(ValueError, match="tune_on 'test'"):
        evaluate_kg(kg, replace(cfg, tune_on="test"), dataset="toy")
    with pytest.raises(ValueError, match="tuning rule 'one-se'"):
        evaluate_kg(kg, replace(cfg, tune_rule="one-se", tune_budget=0), dataset="toy")


def test_the_pm_cache_key_holds_every_field_that_decides_the_pm() -> None:
    # a PM field left out of the key would hand one configuration's cached PM to another
    pm_fields = {f.name for f in fields(TrainConfig) if f.name.startswith("pm_") or f.name == "lr_pm"}
    assert pm_fields <= set(PM_FIELDS)


def test_tuned_params_reads_a_record_and_names_what_is_missing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    # the eval started from dim 16 and 5 PM epochs; a trial records only what it changed
    start = asdict(TrainConfig(dim=16, pm_epochs=5))
    chosen = {"dim": 100, "lr_pm": 0.05, "glm_share": 0.25}
    body = {
        "config": {"train": start},
        "tuning": {"GLoM-Attn1": {"params": chosen}, "PM": {"params": {}}, "lightgcn": {"params": {"lr": 1}}},
    }
    (run / "eval.json").write_text(json.dumps(body))
    glom = {k: start[k] for k in GRIDS["glom"]} | chosen
    assert glom["pm_epochs"] == 5 and glom["dim"] == 100 and glom["layers"] == 1
    assert tuned_params(run, "GLoM-Attn1") == glom == tuned_params(run / "eval.json", "GLoM-Attn1")
    # where the start won, its values are the answer, not `mokg train`'s defaults
    assert tuned_params(run, "PM") == {"dim": 16, "lr_pm": 0.01, "margin": 1.0, "pm_epochs": 5}
    (tmp_path / "text.json").write_text("not json")
    (tmp_path / "other.json").write_text(json.dumps({"runs": []}))
    (tmp_path / "odd.json").write_text(json.dumps({"tuning": {"GLoM-Attn1": {"params": {"epochs": 3}}}}))
    (tmp_path / "pm.json").write_text(json.dumps({"tuning": {"PM": {"params": {"layers": 2}}}}))
    (tmp_path / "bare.json").write_text(json.dumps({"tuning": {"PM": {"params": {}}}}))
    for path, model, why in (
        (tmp_path / "none", "GLoM-Attn1", "no such file"),
        (tmp_path / "text.json", "GLoM-Attn1", "not a `mokg eval` record"),
        (tmp_path / "other.json", "GLoM-Attn1", "no 'tuning' in the record"),
        (run, "GLoM-Mean", "GLoM-Mean was not tuned in this run; tuned: GLoM-Attn1, PM, lightgcn"),
        (run, "lightgcn", "lightgcn: not a model `mokg train` trains (PM or a GLoM variant)"),
        (tmp_path / "odd.json", "GLoM-Attn1", "are not its grid's (dim, glm_epochs"),
        (tmp_path / "pm.json", "PM", "are not its grid's (dim, lr_pm, margin, pm_epochs)"),
        (tmp_path / "bare.json", "PM", "no starting configuration with dim, lr_pm, margin, pm_epochs"),
    ):
        with pytest.raises(ValueError, match=re.escape(why)):
            tuned_params(path, model)
