"""The per-campaign scorer (logreg), the activity term, the collapse check, and the protocol's no-verdict
case."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import average_precision_score

from mokg.lookalike.baselines import TrainData
from mokg.lookalike.evaluation import (
    ACTIVITY_WEIGHTS,
    EvalConfig,
    EvalResult,
    ModelRun,
    _scorer,
    _with_activity,
    task_free_activity,
    verdict,
)
from mokg.lookalike.protocol import Split, Task, build_split, effective_neg_ratio
from mokg.lookalike.scoring import (
    ActivityTerm,
    mean_pairwise_cosine,
    score_candidates,
    score_logreg,
    user_activity,
    with_activity,
)


def planted(n: int = 400, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Users 0..39 form a community around one direction; the others are isotropic noise."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim))
    direction = rng.normal(size=dim)
    emb[:40] += 4.0 * direction / np.linalg.norm(direction)
    return emb, np.arange(40)


def test_logreg_contract_and_seeds_rank_above_random_non_seeds() -> None:
    emb, community = planted()
    seeds = community[:10]
    candidates = np.r_[community[10:], np.arange(200, 300)]  # 30 held-out members + 100 others
    scores = score_logreg(emb, seeds, candidates)
    assert scores.shape == (candidates.size,) and scores.dtype == np.float64
    labels = np.r_[np.ones(30), np.zeros(100)]
    assert average_precision_score(labels, scores) > 0.8  # random would be about 0.23
    # the seeds themselves score above random non-seeds
    assert score_logreg(emb, seeds, seeds).mean() > score_logreg(emb, seeds, np.arange(300, 400)).mean()
    # deterministic, and reachable through the dispatcher
    assert np.array_equal(scores, score_logreg(emb, seeds, candidates))
    assert np.array_equal(scores, score_candidates(emb, seeds, candidates, "logreg"))


def test_logreg_never_trains_on_candidates() -> None:
    """Non-seeds come from outside the candidates: planting the candidates far away changes nothing as long
    as the background is the same."""
    emb, community = planted()
    seeds, candidates = community[:10], np.r_[community[10:], np.arange(200, 300)]
    moved = emb.copy()
    moved[candidates] *= -1
    a = score_logreg(emb, seeds, candidates)
    b = score_logreg(moved, seeds, candidates)
    # same classifier (trained on the same seeds and background), applied to negated candidates
    assert np.allclose(a + b, (a + b).mean())
    # explicit background, and seeds in it are never negatives
    out = score_logreg(emb, seeds, candidates, background=np.r_[seeds, np.arange(300, 400)])
    assert out.shape == (candidates.size,)
    with pytest.raises(ValueError):
        score_logreg(emb, [], candidates)


def test_logreg_falls_back_to_unlabelled_candidates_when_everybody_is_a_candidate() -> None:
    emb, community = planted()
    seeds = community[:10]
    everybody_else = np.setdiff1d(np.arange(len(emb)), seeds)
    scores = score_logreg(emb, seeds, everybody_else)
    labels = np.isin(everybody_else, community)
    assert average_precision_score(labels, scores) > 0.5


def test_mean_pairwise_cosine_detects_a_cone() -> None:
    rng = np.random.default_rng(1)
    spread = rng.normal(size=(500, 32))
    assert abs(mean_pairwise_cosine(spread)) < 0.05
    cone = spread * 0.05 + np.ones(32)
    assert mean_pairwise_cosine(cone) > 0.95
    # zero rows are ignored; the sampled estimate agrees with the exact one
    with_zeros = np.r_[cone, np.zeros((10, 32))]
    assert mean_pairwise_cosine(with_zeros) == pytest.approx(mean_pairwise_cosine(cone))
    assert mean_pairwise_cosine(cone, sample=200) == pytest.approx(mean_pairwise_cosine(cone), abs=0.01)
    assert np.isnan(mean_pairwise_cosine(np.ones((1, 3))))


def small_catalogue(n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """3 items; item j is bought by 60 users, so 40 of 100 users are non-buyers for each."""
    rng = np.random.default_rng(2)
    users, items = [], []
    for j in range(3):
        b = rng.choice(n_users, 60, replace=False)
        users.append(b)
        items.append(np.full(60, j))
    return np.concatenate(users), np.concatenate(items)


def result_for(neg_ratio: float, effective: float, random_ap: float) -> EvalResult:
    res = EvalResult("toy", EvalConfig(neg_ratio=neg_ratio, seeds=(0,)), 100, 3, 180, {"test": 2}, 0)
    metrics = {
        "average_precision": 0.5,
        "precision_at_k": 0.5,
        "recall_at_k": 0.5,
        "precision_at_t": 0.5,
        "recall_at_t": 0.5,
    }
    res.runs = [
        ModelRun("GLoM-Attn1", 0, "centroid", 1.0, {**metrics, "average_precision": 0.9}, {}),
        ModelRun("lightgcn", 0, "-", 1.0, metrics, {}),
    ]
    res.effective_neg_ratio, res.random_pr_auc = effective, random_ap
    return res


def test_effective_ratio_and_no_verdict_when_the_set_cannot_supply_it() -> None:
    u, i = small_catalogue(100)
    split = build_split(u, i, n_users=100, n_items=3, min_buyers=20, seed=0)
    # 30 held-out positives per task but only 40 non-buyers: 1:1.33, not 1:10
    assert effective_neg_ratio(split) == pytest.approx(40 / 30)
    starved = result_for(10.0, effective_neg_ratio(split), 0.43)
    assert starved.ratio_warning is not None and "1:1.33" in starved.ratio_warning
    v = verdict(starved)
    assert v.startswith("no verdict") and "meets" not in v
    # enough non-buyers: the ratio is the asked one and the verdict is given
    u2, i2 = small_catalogue(1000)
    roomy = build_split(u2, i2, n_users=1000, n_items=3, min_buyers=20, seed=0)
    assert effective_neg_ratio(roomy) == pytest.approx(10.0)
    fine = result_for(10.0, effective_neg_ratio(roomy), 0.09)
    assert fine.ratio_warning is None
    # no per-task APs recorded: the point ratio alone, which cannot show the target
    assert "ratio 1.800 (at the 1.05x target by the point ratio alone, no per-task APs" in verdict(fine)


def test_the_verdict_says_how_far_its_ratio_can_be_trusted() -> None:
    res = result_for(10.0, 10.0, 0.09)
    assert "interval" not in verdict(res)  # no per-task APs recorded: nothing to resample
    base = np.linspace(0.2, 0.4, 12)
    runs = []
    for seed, lift in ((0, 1.2), (1, 1.2), (2, 0.9)):  # GLoM ahead on two of three splits
        for model, f in (("GLoM-Attn1", lift), ("lightgcn", 1.0)):
            aps = {f"I{item}": float(ap * f) for item, ap in enumerate(base)}
            metrics = {name: 0.5 for name in res.runs[0].metrics}
            metrics["average_precision"] = float(np.mean(list(aps.values())))
            runs.append(ModelRun(model, seed, "centroid", 1.0, metrics, {}, task_ap=aps))
    res.runs = runs
    v = verdict(res)
    assert "ratio 1.100" in v and "over its 12 test tasks" in v and "ahead in 2 of 3 splits" in v
    low, high = (float(x) for x in v.split("resampled: ")[1].split(";")[0].split("–"))
    # every task moved by the same factors, so every resampling gives the same ratio
    assert low == pytest.approx(1.1) and high == pytest.approx(1.1)
    assert "not shown" not in v  # at the target, and every resampling agrees
    res.runs = [r for r in runs if (r.model, r.seed) != ("lightgcn", 2)]  # a split only one model ran
    assert "ahead in 2 of 2 splits" in verdict(res)


def test_a_ratio_at_the_target_that_one_task_carries_is_not_shown() -> None:
    res = result_for(10.0, 10.0, 0.09)
    metrics = dict(res.runs[0].metrics)
    # GLoM 3x the baseline on one task and 0.7x on five: mean ratio 6.5/6 = 1.083, but a resample without
    # the first task gives 0.7
    lifts = {"GLoM-Attn1": [3.0, 0.7, 0.7, 0.7, 0.7, 0.7], "lightgcn": [1.0] * 6}
    res.runs = [
        ModelRun(
            m,
            0,
            "centroid",
            1.0,
            {**metrics, "average_precision": 0.3 * float(np.mean(fs))},
            {},
            task_ap={f"I{k}": 0.3 * f for k, f in enumerate(fs)},
        )
        for m, fs in lifts.items()
    ]
    v = verdict(res)
    assert "ratio 1.083 (ahead, but its interval does not show the 1.05x target)" in v and "meets" not in v
    assert "not shown: the interval holds 1.0" in v


def test_activity_is_standardised_log_item_counts_and_weight_zero_keeps_the_ranking() -> None:
    counts = np.array([1, 3, 7, 15])
    rows = np.repeat(np.arange(4), counts)
    interactions = sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))), shape=(4, rows.size))
    a = user_activity(interactions)
    assert (
        a.mean() == pytest.approx(0.0)
        and a.std() == pytest.approx(1.0)
        and list(np.argsort(a)) == [0, 1, 2, 3]
    )
    assert not user_activity(sp.csr_matrix(np.ones((3, 2)))).any()  # everybody alike: no information
    scores = np.array([0.9, 0.1, 0.5, 0.3])
    assert list(np.argsort(with_activity(scores, a, 0.0))) == list(np.argsort(scores))
    assert list(np.argsort(with_activity(scores, a, 10.0))) == [0, 1, 2, 3]  # activity dominates
    assert list(np.argsort(with_activity(np.ones(4), a, -0.1))) == [3, 2, 1, 0]  # ties: activity decides


def test_the_served_term_ranks_as_the_evaluated_one_and_the_activity_index_serves_it_exactly() -> None:
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 40, size=300)
    rows = np.repeat(np.arange(300), counts)
    interactions = sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))), shape=(300, rows.size))
    emb = rng.standard_normal((300, 6))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    direction = rng.standard_normal(6)
    direction /= np.linalg.norm(direction)
    cos = unit @ direction
    # counts past the training range on both sides (clipped) still give rows of the one norm
    edge_counts = np.concatenate([counts, [0, 10_000]])
    edge_unit = np.concatenate([unit, unit[:2]])
    for w in (-2.0, -0.25, 0.5, 2.0):
        term = ActivityTerm.of(counts, w)
        # on the training users, the standardised activity is the evaluated one
        assert np.allclose(term.activity(counts), user_activity(interactions))
        # cos + bonus (at the cosines' own spread) ranks as standardised cos + w × activity does
        spread = float(cos.std())
        served = cos + term.bonus(counts, spread)
        assert np.array_equal(
            np.argsort(served), np.argsort(with_activity(cos, user_activity(interactions), w))
        )
        # the activity index: rows of one norm, and the index's cosine times the factor is cos + bonus
        index_rows = term.rows(edge_unit, edge_counts)
        assert np.allclose(np.linalg.norm(index_rows, axis=1), term.radius)
        assert index_rows.shape == (302, 8)
        query, factor = term.query(direction, spread)
        index_cos = index_rows @ query / (term.radius * np.linalg.norm(query))
        assert np.allclose(
            index_cos * factor, np.concatenate([cos, cos[:2]]) + term.bonus(edge_counts, spread)
        )
        assert np.array_equal(np.argsort(-index_cos[:300], kind="stable"), np.argsort(-served, kind="stable"))
    # everybody alike: no term at all, and the rows are the unit embeddings and zeros
    flat = ActivityTerm.of([2, 2, 2], 1.0)
    assert not flat.bonus([1, 5, 50], 0.2).any() and flat.radius == 1.0
    assert np.array_equal(flat.rows(unit[:3], [1, 5, 50]), np.column_stack([unit[:3], np.zeros((3, 2))]))


class _Blind:
    """A model that knows nothing: fixed pseudo-random scores (our own selection logic is under test)."""

    def fit(self, train: TrainData) -> None:
        pass

    def score(self, task: Task) -> np.ndarray:
        return np.random.default_rng(int(task.item)).random(task.candidates.size)


def test_task_free_activity_does_not_see_which_users_are_held_out() -> None:
    rng = np.random.default_rng(7)
    users = np.repeat(np.arange(200), 6)
    # half the purchases go to 10 popular items (the tasks), half to 190 rare ones
    popular = rng.random(users.size) < 0.5
    items = np.where(popular, rng.integers(0, 10, users.size), rng.integers(10, 200, users.size))
    split = build_split(users, items, n_users=200, n_items=200, min_buyers=20, seed=1)
    assert {t.item for t in split.tasks} == set(range(10))
    full = TrainData.from_pairs(users, items, 200, 200).interactions
    kept = TrainData.from_split(split, users, items).interactions
    positives = np.unique(np.concatenate([t.positives for t in split.tasks]))
    # training counts make the held-out buyers lighter than they are ...
    assert (kept.getnnz(axis=1)[positives] < full.getnnz(axis=1)[positives]).all()
    # ... counts outside the tasks' items do not: the same with or without the held-out edges
    assert np.allclose(task_free_activity(kept, split), task_free_activity(full, split))
    assert task_free_activity(kept, split).std() > 0


def _activity_split(n_tasks: int = 6) -> tuple[Split, np.ndarray]:
    """Tasks whose buyers are exactly the most active candidates."""
    rng = np.random.default_rng(1)
    activity = rng.normal(size=300)
    tasks = []
    for item in range(n_tasks):
        cand = rng.choice(np.arange(20, 300), size=55, replace=False)
        labels = activity[cand] >= np.sort(activity[cand])[-5]
        tasks.append(Task(item, np.arange(5) + item, cand[labels], cand[~labels], cand, labels))
    return Split(300, n_tasks, tuple(tasks[:3]), tuple(tasks[3:]), np.zeros((0, 2), np.int64)), activity


def test_the_activity_weight_is_chosen_on_validation_tasks_and_zero_is_the_model_alone() -> None:
    split, activity = _activity_split()
    best = _with_activity(_Blind().score, "-", split, activity, ACTIVITY_WEIGHTS)
    plain = _with_activity(_Blind().score, "-", split, activity, (0.0,))
    blended, label, ap = best.score, best.label, best.ap
    alone, label0, ap0 = plain.score, plain.label, plain.ap
    assert label == f"{max(ACTIVITY_WEIGHTS):+g}·activity" and label0 == "-"
    assert ap > 0.7 and ap0 < 0.4
    assert best.weight == max(ACTIVITY_WEIGHTS) and set(best.by_weight) == set(ACTIVITY_WEIGHTS)
    assert best.by_weight[best.weight] == ap == max(best.by_weight.values()) and best.by_weight[0.0] == ap0
    # chosen on validation only, and it carries to the test tasks
    test_ap = [average_precision_score(t.labels, f(t)) for f in (blended, alone) for t in split.test]
    assert np.mean(test_ap[:3]) > 0.6 > 0.4 > np.mean(test_ap[3:])
    t = split.test[0]
    assert np.array_equal(alone(t), _Blind().score(t))
    # opposite data (the light users buy): a negative weight is chosen
    neg_label = _with_activity(_Blind().score, "-", split, -activity, ACTIVITY_WEIGHTS).label
    assert neg_label == f"{min(ACTIVITY_WEIGHTS):+g}·activity"


def test_every_weight_reranks_one_scoring_of_each_task() -> None:
    split, activity = _activity_split()
    calls: list[int] = []

    class Counted(_Blind):
        def score(self, task: Task) -> np.ndarray:
            calls.append(int(task.item))
            return super().score(task)

    score, method = _scorer(Counted(), split)  # type: ignore[arg-type]
    _with_activity(score, method, split, activity, ACTIVITY_WEIGHTS)
    assert sorted(calls) == sorted(int(t.item) for t in split.validation)  # once each, not once a weight


def test_one_se_keeps_the_model_alone_unless_the_term_clearly_helps() -> None:
    split, activity = _activity_split()
    # activity that decides every task: the lead is clear, one_se takes it as best does
    assert _with_activity(_Blind().score, "-", split, activity, ACTIVITY_WEIGHTS, "one_se").weight == 2.0
    # activity unrelated to the labels: best takes a chance lead on three tasks, one_se does not
    noise = np.random.default_rng(0).normal(size=activity.size)
    taken = _with_activity(_Blind().score, "-", split, noise, ACTIVITY_WEIGHTS, "best")
    kept = _with_activity(_Blind().score, "-", split, noise, ACTIVITY_WEIGHTS, "one_se")
    assert taken.weight != 0.0 and taken.ap > taken.by_weight[0.0]
    assert kept.weight == 0.0 and kept.label == "-" and kept.ap == kept.by_weight[0.0]
    assert kept.by_weight == taken.by_weight and len(kept.task_aps) == len(split.validation)
