"""The per-campaign scorer (logreg), the collapse check, and the protocol's no-verdict case."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from mokg.lookalike.evaluation import EvalConfig, EvalResult, ModelRun, verdict
from mokg.lookalike.protocol import build_split, effective_neg_ratio
from mokg.lookalike.scoring import mean_pairwise_cosine, score_candidates, score_logreg


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
    assert "meets the 1.05x target" in verdict(fine)
