"""Lookalike evaluation metrics (GLoM §4.4): precision/recall at k and at a threshold T, PR-AUC.

Every function takes one task's candidate ``scores`` and boolean ``labels`` (held-out buyer or not).
Ties are handled deterministically and independently of candidate order:

- ranking metrics (precision@k, recall@k) count a tie group that straddles the cut-off at its expected
  value under a uniformly random tie order (so shuffling candidates never changes a result, and a model
  that scores everybody the same gets exactly the base rate);
- average precision treats a tie group as one threshold, as ``sklearn.metrics.average_precision_score`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _as_scores_labels(scores: ArrayLike, labels: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"scores has {s.size} entries but labels has {y.size}")
    if s.size == 0:
        raise ValueError("no candidates to evaluate")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return s, y


def expected_hits_at_k(scores: ArrayLike, labels: ArrayLike, k: int) -> float:
    """Expected number of positives among the top ``k`` (ties at the cut-off split proportionally)."""
    s, y = _as_scores_labels(scores, labels)
    if not 1 <= k <= s.size:
        raise ValueError(f"k={k} must lie in [1, {s.size}]")
    cut = np.partition(s, s.size - k)[s.size - k]  # k-th largest score
    above = s > cut
    tied = s == cut
    slots = k - int(above.sum())  # how many of the tied group make it into the top k
    return float(y[above].sum()) + slots * float(y[tied].sum()) / float(tied.sum())


def _default_k(y: NDArray[np.bool_], k: int | None) -> int:
    if k is not None:
        return k
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("k defaults to the number of positives, but there are none")
    return n_pos


def precision_at_k(scores: ArrayLike, labels: ArrayLike, k: int | None = None) -> float:
    """Fraction of the top ``k`` candidates that are positive; ``k`` defaults to the number of positives."""
    s, y = _as_scores_labels(scores, labels)
    kk = _default_k(y, k)
    return expected_hits_at_k(s, y, kk) / kk


def recall_at_k(scores: ArrayLike, labels: ArrayLike, k: int | None = None) -> float:
    """Fraction of the positives found in the top ``k``; ``k`` defaults to the number of positives."""
    s, y = _as_scores_labels(scores, labels)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("recall is undefined without positives")
    return expected_hits_at_k(s, y, _default_k(y, k)) / n_pos


def precision_recall_at_threshold(
    scores: ArrayLike, labels: ArrayLike, threshold: float
) -> tuple[float, float]:
    """Precision and recall of the audience ``{score >= threshold}``; precision is 0 for an empty audience
    (sklearn's ``zero_division=0``), recall is 0 without positives."""
    s, y = _as_scores_labels(scores, labels)
    chosen = s >= threshold
    tp = float((chosen & y).sum())
    n_chosen = int(chosen.sum())
    n_pos = int(y.sum())
    return (tp / n_chosen if n_chosen else 0.0), (tp / n_pos if n_pos else 0.0)


def average_precision(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the precision-recall curve as a step sum, AP = Σ_n (R_n − R_{n−1}) P_n over distinct
    score thresholds (the same definition and tie handling as ``sklearn.metrics.average_precision_score``)."""
    s, y = _as_scores_labels(scores, labels)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("average precision is undefined without positives")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # last index of every run of equal scores = one threshold
    ends = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[ends]
    precision = tp / (ends + 1)
    recall_gain = np.diff(tp, prepend=0) / n_pos
    return float(np.sum(recall_gain * precision))


def f1_from_precision_recall(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class ThresholdChoice:
    """Threshold T tuned on validation tasks and the task-averaged F1 it reached there."""

    threshold: float
    mean_f1: float


def tune_threshold(tasks: Sequence[tuple[ArrayLike, ArrayLike]], max_grid: int = 10_000) -> ThresholdChoice:
    """Pick T maximising F1 of ``{score >= T}`` averaged over ``tasks`` (pairs of scores, labels).

    Candidate thresholds are the observed scores (thinned to ``max_grid`` evenly spaced ones when there are
    more). Among equally good thresholds the highest wins: it gives the smaller audience.
    """
    if not tasks:
        raise ValueError("tune_threshold needs at least one validation task")
    prepared = [_as_scores_labels(s, y) for s, y in tasks]
    grid = np.unique(np.concatenate([s for s, _ in prepared]))
    if grid.size > max_grid:
        grid = grid[np.unique(np.linspace(0, grid.size - 1, max_grid).round().astype(np.int64))]
    f1_sum = np.zeros(grid.size)
    for s, y in prepared:
        n_pos = int(y.sum())
        if n_pos == 0:
            raise ValueError("every validation task needs at least one positive")
        all_sorted = np.sort(s)
        pos_sorted = np.sort(s[y])
        n_chosen = s.size - np.searchsorted(all_sorted, grid, side="left")
        tp = n_pos - np.searchsorted(pos_sorted, grid, side="left")
        f1_sum += 2.0 * tp / (n_chosen + n_pos)  # F1 = 2TP / (|chosen| + |positives|)
    best = grid.size - 1 - int(np.argmax(f1_sum[::-1]))
    return ThresholdChoice(threshold=float(grid[best]), mean_f1=float(f1_sum[best] / len(prepared)))


@dataclass(frozen=True)
class TaskMetrics:
    """Metrics of one task; the ``*_at_t`` fields are NaN when no threshold was given."""

    item: int
    n_positives: int
    n_candidates: int
    average_precision: float
    precision_at_k: float
    recall_at_k: float
    precision_at_t: float
    recall_at_t: float


def task_metrics(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    item: int = -1,
    k: int | None = None,
    threshold: float | None = None,
) -> TaskMetrics:
    s, y = _as_scores_labels(scores, labels)
    p_t, r_t = (math.nan, math.nan) if threshold is None else precision_recall_at_threshold(s, y, threshold)
    return TaskMetrics(
        item=item,
        n_positives=int(y.sum()),
        n_candidates=int(s.size),
        average_precision=average_precision(s, y),
        precision_at_k=precision_at_k(s, y, k),
        recall_at_k=recall_at_k(s, y, k),
        precision_at_t=p_t,
        recall_at_t=r_t,
    )


METRIC_NAMES = ("average_precision", "precision_at_k", "recall_at_k", "precision_at_t", "recall_at_t")


def mean_metrics(rows: Iterable[TaskMetrics]) -> dict[str, float]:
    """Unweighted mean over tasks of every metric (each task counts once, as in the paper's per-task view)."""
    dicts = [asdict(r) for r in rows]
    if not dicts:
        raise ValueError("no task metrics to average")
    return {name: float(np.mean([d[name] for d in dicts])) for name in METRIC_NAMES}


@dataclass(frozen=True)
class RatioInterval:
    """``mean(a) / mean(b)`` over paired units, and its percentile bootstrap interval over the units."""

    ratio: float
    low: float
    high: float
    level: float
    units: int


def paired_ratio_interval(
    a: ArrayLike, b: ArrayLike, *, level: float = 0.95, draws: int = 2000, seed: int = 0
) -> RatioInterval:
    """The ratio of two models' mean scores on the same units (tasks), with an interval that resamples the
    units with replacement: both models keep each drawn unit, so what the tasks share (an easy item) cancels
    and what is left is how much the ratio depends on which tasks were drawn."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise ValueError(f"need two equal, non-empty 1-D score arrays (got shapes {x.shape} and {y.shape})")
    if not (np.isfinite(x).all() and np.isfinite(y).all() and (y >= 0).all() and y.sum() > 0):
        raise ValueError("scores must be finite, and the second model's non-negative with a positive mean")
    if not 0.0 < level < 1.0 or draws < 1:
        raise ValueError(f"level ({level}) must lie in (0, 1) and draws ({draws}) be at least 1")
    picks = np.random.default_rng(seed).integers(0, x.size, size=(draws, x.size))
    # a draw that holds only zero-score tasks of the second model has no ratio: it is left out
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = x[picks].mean(axis=1) / y[picks].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(ratios[np.isfinite(ratios)], [tail, 100.0 - tail])
    return RatioInterval(float(x.mean() / y.mean()), float(low), float(high), level, int(x.size))
