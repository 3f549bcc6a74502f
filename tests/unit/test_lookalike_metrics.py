"""Lookalike metrics: hand-computed cases and agreement with scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from mokg.lookalike.metrics import (
    average_precision,
    expected_hits_at_k,
    mean_metrics,
    paired_ratio_interval,
    precision_at_k,
    precision_recall_at_threshold,
    recall_at_k,
    task_metrics,
    tune_threshold,
)


def random_case(seed: int, n: int = 60, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    if ties:
        scores = np.round(scores * 5) / 5  # only six distinct values
    labels = rng.random(n) < 0.25
    labels[rng.integers(n)] = True  # at least one positive
    return scores, labels


# -- average precision ------------------------------------------------------------------------


def test_average_precision_hand_case() -> None:
    # ranks 1 and 3 are positive: AP = (1/1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(5 / 6)


def test_average_precision_hand_case_with_tie() -> None:
    # the tied pair is one threshold: (P=1/2, R=1/2), then (P=2/3, R=1)
    ap = average_precision([0.5, 0.5, 0.1], [1, 0, 1])
    assert ap == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert ap == pytest.approx(average_precision_score([1, 0, 1], [0.5, 0.5, 0.1]))


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(25))
def test_average_precision_matches_sklearn(seed: int, ties: bool) -> None:
    scores, labels = random_case(seed, ties=ties)
    assert average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores))


def test_average_precision_ignores_candidate_order() -> None:
    scores, labels = random_case(3, ties=True)
    perm = np.random.default_rng(0).permutation(scores.size)
    assert average_precision(scores[perm], labels[perm]) == pytest.approx(average_precision(scores, labels))


def test_average_precision_perfect_and_without_positives() -> None:
    assert average_precision([3.0, 2.0, 1.0], [1, 1, 0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="without positives"):
        average_precision([0.1, 0.2], [0, 0])


# -- precision / recall at k ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(15))
def test_precision_recall_at_k_match_sklearn_on_top_k_labels(seed: int) -> None:
    scores, labels = random_case(seed)  # continuous scores: no ties
    for k in (1, 5, int(labels.sum()), 30):
        predicted = np.zeros(scores.size, bool)
        predicted[np.argsort(-scores)[:k]] = True
        assert precision_at_k(scores, labels, k) == pytest.approx(precision_score(labels, predicted))
        assert recall_at_k(scores, labels, k) == pytest.approx(recall_score(labels, predicted))


def test_default_k_is_number_of_positives() -> None:
    scores, labels = random_case(7)
    n_pos = int(labels.sum())
    assert precision_at_k(scores, labels) == pytest.approx(precision_at_k(scores, labels, n_pos))
    assert precision_at_k(scores, labels) == pytest.approx(recall_at_k(scores, labels))  # k = |P|


def test_precision_at_k_splits_a_tie_at_the_cut_off() -> None:
    # top-2: the 1.0 (positive) plus one of three tied 0.5s, of which one is positive -> 1 + 1/3 hits
    scores = np.array([1.0, 0.5, 0.5, 0.5, 0.0])
    labels = np.array([1, 1, 0, 0, 1], bool)
    assert expected_hits_at_k(scores, labels, 2) == pytest.approx(4 / 3)
    assert precision_at_k(scores, labels, 2) == pytest.approx(2 / 3)
    assert recall_at_k(scores, labels, 2) == pytest.approx(4 / 9)
    for seed in range(5):  # the answer does not depend on candidate order
        perm = np.random.default_rng(seed).permutation(5)
        assert precision_at_k(scores[perm], labels[perm], 2) == pytest.approx(2 / 3)


def test_constant_scores_give_the_base_rate() -> None:
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], bool)
    assert precision_at_k(np.zeros(10), labels, 4) == pytest.approx(0.2)
    assert average_precision(np.zeros(10), labels) == pytest.approx(0.2)


def test_k_out_of_range() -> None:
    with pytest.raises(ValueError, match="k="):
        precision_at_k([0.1, 0.2], [1, 0], 3)
    with pytest.raises(ValueError, match="k="):
        precision_at_k([0.1, 0.2], [1, 0], 0)


# -- threshold metrics and tuning -------------------------------------------------------------


@pytest.mark.parametrize("seed", range(15))
def test_threshold_metrics_match_sklearn(seed: int) -> None:
    scores, labels = random_case(seed, ties=seed % 2 == 0)
    for t in (-1.0, 0.2, 0.5, 0.8, 2.0):  # 2.0: empty audience
        chosen = scores >= t
        p, r = precision_recall_at_threshold(scores, labels, t)
        assert p == pytest.approx(precision_score(labels, chosen, zero_division=0))
        assert r == pytest.approx(recall_score(labels, chosen, zero_division=0))


def test_tune_threshold_hand_case() -> None:
    # task A: {>= 0.8} is perfect; task B: {>= 0.8} gets 1 of 2 positives with no false positive
    a = (np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0], bool))
    b = (np.array([0.85, 0.6, 0.2]), np.array([1, 1, 0], bool))
    choice = tune_threshold([a, b])
    # at T=0.8: F1(A)=1, F1(B)=2/3; at T=0.6: F1(A)=1, F1(B)=1 -> 0.6 wins with mean 1
    assert choice.threshold == pytest.approx(0.6)
    assert choice.mean_f1 == pytest.approx(1.0)


def test_tune_threshold_prefers_the_highest_of_equal_thresholds() -> None:
    # F1 = 2/3 both at T=0.9 (1 of 2 positives, no FP) and at T=0.6 (2 of 2 positives, 2 FP)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    labels = np.array([1, 0, 0, 1], bool)
    choice = tune_threshold([(scores, labels)])
    assert choice.threshold == pytest.approx(0.9)
    assert choice.mean_f1 == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(6))
def test_tune_threshold_is_the_brute_force_optimum(seed: int) -> None:
    tasks = [random_case(seed * 10 + j, n=40, ties=j % 2 == 1) for j in range(4)]

    def mean_f1(t: float) -> float:  # plain definition, one threshold at a time
        f1s = []
        for s, y in tasks:
            p, r = precision_recall_at_threshold(s, y, t)
            f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
        return float(np.mean(f1s))

    grid = np.unique(np.concatenate([s for s, _ in tasks]))
    best = max(mean_f1(t) for t in grid)
    choice = tune_threshold(tasks)
    assert choice.mean_f1 == pytest.approx(best)
    sk = np.mean([f1_score(y, s >= choice.threshold, zero_division=0) for s, y in tasks])
    assert sk == pytest.approx(best)


def test_tune_threshold_thinned_grid_uses_observed_scores() -> None:
    tasks = [random_case(j, n=200) for j in range(3)]
    observed = np.concatenate([s for s, _ in tasks])
    choice = tune_threshold(tasks, max_grid=25)
    assert choice.threshold in observed
    assert choice.mean_f1 <= tune_threshold(tasks).mean_f1 + 1e-12


def test_tune_threshold_needs_tasks_with_positives() -> None:
    with pytest.raises(ValueError):
        tune_threshold([])
    with pytest.raises(ValueError, match="positive"):
        tune_threshold([(np.array([0.1, 0.2]), np.array([0, 0], bool))])


# -- per-task rows and their mean -------------------------------------------------------------


def test_task_metrics_and_mean() -> None:
    row = task_metrics([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], item=4, threshold=0.75)
    assert row.item == 4 and row.n_positives == 2 and row.n_candidates == 4
    assert row.average_precision == pytest.approx(5 / 6)
    assert row.precision_at_k == pytest.approx(0.5)  # top-2 = {0.9, 0.8}
    assert (row.precision_at_t, row.recall_at_t) == pytest.approx((0.5, 0.5))
    no_t = task_metrics([0.9, 0.1], [1, 0])
    assert math.isnan(no_t.precision_at_t) and math.isnan(no_t.recall_at_t)
    means = mean_metrics([row, task_metrics([0.9, 0.1], [1, 0], threshold=0.5)])
    assert means["average_precision"] == pytest.approx((5 / 6 + 1) / 2)
    assert means["precision_at_t"] == pytest.approx(0.75)


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="entries"):
        average_precision([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(ValueError, match="NaN"):
        average_precision([0.1, np.nan], [1, 0])
    with pytest.raises(ValueError, match="no candidates"):
        average_precision([], [])


def test_the_paired_ratio_interval_covers_a_stable_lead_and_straddles_one_for_a_noisy_one() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.5, 200)  # tasks differ widely in difficulty; pairing cancels that
    steady = paired_ratio_interval(base * 1.1, base)
    assert steady.ratio == pytest.approx(1.1) and steady.units == 200
    assert steady.low == pytest.approx(1.1) and steady.high == pytest.approx(1.1)  # every draw is 1.1
    noise = rng.normal(0.0, 0.1, 200)
    noisy = paired_ratio_interval(base + noise, base)
    assert noisy.low < noisy.ratio < noisy.high and noisy.low < 1.0 < noisy.high and noisy.level == 0.95
    half = paired_ratio_interval(base + noise, base, level=0.5)
    assert noisy.low < half.low < half.high < noisy.high
    fewer = paired_ratio_interval(base[:20] + noise[:20], base[:20])
    assert fewer.high - fewer.low > noisy.high - noisy.low  # fewer tasks, wider interval
    again = paired_ratio_interval(base + noise, base, seed=3)
    assert again == paired_ratio_interval(base + noise, base, seed=3) != noisy


def test_the_paired_ratio_interval_takes_the_asked_percentiles() -> None:
    # means of 3 draws from {1, 2, 3}: 1 with probability 1/27 (3.7%), 3 likewise; the 2.5th and 97.5th
    # percentiles are those extremes, where a tail of 5% a side would give 4/3 and 8/3
    got = paired_ratio_interval([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert (got.ratio, got.low, got.high) == pytest.approx((2.0, 1.0, 3.0))


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "says"),
    [
        ([0.1, 0.2], [0.1], {}, "equal, non-empty 1-D"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {}, "equal, non-empty 1-D"),
        ([0.1, float("nan")], [0.1, 0.2], {}, "finite"),
        ([0.1, 0.2], [0.0, 0.0], {}, "positive mean"),
        ([0.1, 0.2], [0.1, 0.2], {"level": 1.0}, "level"),
        ([0.1, 0.2], [0.1, 0.2], {"draws": 0}, "draws"),
    ],
)
def test_the_paired_ratio_interval_refuses_what_it_cannot_judge(
    a: list[float], b: list[float], kwargs: dict[str, float], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        paired_ratio_interval(a, b, **kwargs)  # type: ignore[arg-type]
