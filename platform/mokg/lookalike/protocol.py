"""Evaluation protocol for lookalike expansion (GLoM §4.1, §4.4, Figure 6).

A *task* is one item (a campaign). Its buyers are split into seeds, which the model is given, and held-out
positives, which it must find among candidates = held-out positives + sampled non-buyers (1:10 by default,
as in §4.1). The held-out (user, item) edges are returned so that every model trains without them;
:func:`training_interactions` is the one place that removes them. Seeds keep their edge to the task item:
they are known buyers.

Everything is index-based (users ``0..n_users-1``, items ``0..n_items-1``) and reproducible from an int seed.
Each task draws from its own random stream keyed by (seed, item), so a task's split does not change when
other tasks are added or removed (e.g. by a different ``min_buyers``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from mokg.lookalike.metrics import TaskMetrics, ThresholdChoice, mean_metrics, task_metrics, tune_threshold

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Task:
    """One lookalike task; ``labels[j]`` tells whether ``candidates[j]`` is a held-out buyer of ``item``."""

    item: int
    seeds: IntArray
    positives: IntArray
    negatives: IntArray
    candidates: IntArray
    labels: NDArray[np.bool_]


@dataclass(frozen=True)
class Split:
    """Validation tasks (to tune T), test tasks, and the held-out edges as a sorted ``(n, 2)`` array."""

    n_users: int
    n_items: int
    validation: tuple[Task, ...]
    test: tuple[Task, ...]
    heldout: IntArray

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.validation + self.test


def _pair_keys(users: IntArray, items: IntArray, n_items: int) -> IntArray:
    return users * np.int64(n_items) + items


def _as_pairs(user_idx: ArrayLike, item_idx: ArrayLike) -> tuple[IntArray, IntArray]:
    users = np.asarray(user_idx, dtype=np.int64).ravel()
    items = np.asarray(item_idx, dtype=np.int64).ravel()
    if users.shape != items.shape:
        raise ValueError(f"user_idx has {users.size} entries but item_idx has {items.size}")
    if users.size and (users.min() < 0 or items.min() < 0):
        raise ValueError("user and item indices must be non-negative")
    return users, items


def _make_task(
    item: int,
    buyers: IntArray,
    n_users: int,
    n_seeds: int,
    neg_ratio: float,
    rng: np.random.Generator,
) -> Task:
    shuffled = rng.permutation(buyers)
    seeds, positives = np.sort(shuffled[:n_seeds]), np.sort(shuffled[n_seeds:])
    non_buyers = np.setdiff1d(np.arange(n_users, dtype=np.int64), buyers, assume_unique=True)
    n_neg = min(round(neg_ratio * positives.size), non_buyers.size)
    negatives = np.sort(rng.choice(non_buyers, size=n_neg, replace=False))
    # shuffled so that nothing downstream can lean on "positives come first"
    candidates = np.concatenate([positives, negatives])
    labels = np.concatenate([np.ones(positives.size, bool), np.zeros(n_neg, bool)])
    order = rng.permutation(candidates.size)
    return Task(item, seeds, positives, negatives, candidates[order], labels[order])


def build_split(
    user_idx: ArrayLike,
    item_idx: ArrayLike,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    min_buyers: int = 20,
    seed_fraction: float = 0.5,
    n_seeds: int | None = None,
    neg_ratio: float = 10.0,
    validation_fraction: float = 0.2,
    seed: int = 0,
    partition_seed: int | None = None,
) -> Split:
    """Build lookalike tasks from interactions (duplicate pairs count once).

    Items with at least ``min_buyers`` distinct buyers become tasks. Each task keeps ``n_seeds`` seeds when
    given (the Figure-6 seed-size curve; needs ``n_seeds < min_buyers``), otherwise ``round(seed_fraction ·
    buyers)`` clipped to [1, buyers − 1]. Negatives are ``neg_ratio`` × held-out positives drawn from users
    who never interacted with the item (capped by how many exist). A seeded ``validation_fraction`` of tasks
    (at least one when there are two or more tasks) goes to validation; ``partition_seed`` (default: ``seed``)
    decides which, so splits of several seeds can share one validation/test partition of the tasks while
    their seeds, held-out positives and negatives differ.
    """
    users, items = _as_pairs(user_idx, item_idx)
    n_u = int(users.max()) + 1 if n_users is None else n_users
    n_i = int(items.max()) + 1 if n_items is None else n_items
    if users.size and (users.max() >= n_u or items.max() >= n_i):
        raise ValueError(f"indices exceed n_users={n_u} / n_items={n_i}")
    if min_buyers < 2:
        raise ValueError(f"min_buyers={min_buyers}: need at least 2 (one seed and one held-out buyer)")
    if n_seeds is not None and not 1 <= n_seeds < min_buyers:
        raise ValueError(f"n_seeds={n_seeds} must lie in [1, min_buyers={min_buyers})")
    if not 0.0 < seed_fraction < 1.0:
        raise ValueError(f"seed_fraction={seed_fraction} must lie in (0, 1)")
    if neg_ratio <= 0 or not 0.0 <= validation_fraction < 1.0:
        raise ValueError("neg_ratio must be positive and validation_fraction in [0, 1)")

    # item -> sorted distinct buyers, via a CSC matrix (duplicates collapse to one stored entry)
    buys = sp.csc_matrix((np.ones(users.size, np.int8), (users, items)), shape=(n_u, n_i))
    buys.sum_duplicates()
    buys.sort_indices()
    counts = np.diff(buys.indptr)
    task_items = np.flatnonzero(counts >= min_buyers)
    if task_items.size == 0:
        raise ValueError(f"no item has min_buyers={min_buyers} buyers (max is {counts.max(initial=0)})")

    tasks = []
    for item in task_items.tolist():
        buyers = buys.indices[buys.indptr[item] : buys.indptr[item + 1]].astype(np.int64)
        k = (
            n_seeds
            if n_seeds is not None
            else min(max(1, round(seed_fraction * buyers.size)), buyers.size - 1)
        )
        tasks.append(_make_task(item, buyers, n_u, k, neg_ratio, np.random.default_rng([seed, 1, item])))

    n_val = round(validation_fraction * len(tasks))
    if validation_fraction > 0 and len(tasks) >= 2:
        n_val = min(max(n_val, 1), len(tasks) - 1)
    order = np.random.default_rng([seed if partition_seed is None else partition_seed, 0]).permutation(
        len(tasks)
    )
    validation = tuple(tasks[j] for j in sorted(order[:n_val].tolist()))
    test = tuple(tasks[j] for j in sorted(order[n_val:].tolist()))

    return Split(n_users=n_u, n_items=n_i, validation=validation, test=test, heldout=_heldout_of(tasks))


def _heldout_of(tasks: Sequence[Task]) -> IntArray:
    """The (user, item) held-out edges of ``tasks``, sorted."""
    if not tasks:
        return np.empty((0, 2), np.int64)
    heldout = np.concatenate(
        [np.column_stack([t.positives, np.full(t.positives.size, t.item, np.int64)]) for t in tasks]
    )
    return heldout[np.lexsort((heldout[:, 1], heldout[:, 0]))]


def task_folds(split: Split, folds: int, seed: int = 0) -> list[Split]:
    """``split``'s tasks dealt at random into ``folds`` (at most one per task) validation-only splits, each
    holding out only its own tasks' edges: k-fold cross-validation over tasks, so every task is scored once by
    a model that kept the other folds' edges."""
    tasks = split.tasks
    k = max(1, min(folds, len(tasks)))
    order = np.random.default_rng([seed, 2]).permutation(len(tasks))
    out = []
    for f in range(k):
        mine = tuple(tasks[j] for j in sorted(order[f::k].tolist()))
        out.append(Split(split.n_users, split.n_items, validation=mine, test=(), heldout=_heldout_of(mine)))
    return out


def effective_neg_ratio(split: Split) -> float:
    """Mean over all tasks of negatives / held-out positives: the ratio the data actually supplied, below
    the asked ``neg_ratio`` when an item's non-buyers run out (random ranking then scores PR-AUC ≈
    1 / (1 + ratio) instead of ≈ 1 / (1 + neg_ratio))."""
    tasks = split.tasks
    if not tasks:
        return float("nan")
    return float(np.mean([t.negatives.size / max(t.positives.size, 1) for t in tasks]))


def training_mask(split: Split, user_idx: ArrayLike, item_idx: ArrayLike) -> NDArray[np.bool_]:
    """True for every interaction a model may train on (i.e. not a held-out edge); align extra columns
    such as ratings with it."""
    users, items = _as_pairs(user_idx, item_idx)
    held = _pair_keys(split.heldout[:, 0], split.heldout[:, 1], split.n_items)
    return ~np.isin(_pair_keys(users, items, split.n_items), held)


def inner_split(
    split: Split,
    user_idx: ArrayLike,
    item_idx: ArrayLike,
    *,
    min_buyers: int,
    seed_fraction: float,
    neg_ratio: float,
    max_tasks: int,
    seed: int,
) -> tuple[Split, NDArray[np.bool_]]:
    """Validation-only tasks built from ``split``'s training edges alone, for tuning, and the mask of the
    interactions they are built from (``split``'s training edges; align ratings with it).

    Their buyers, seeds and negatives are drawn as :func:`build_split` draws them, from the training graph,
    so no held-out edge of ``split`` is seen. No item of ``split``'s tasks (validation or test) becomes an
    inner task: a task item's training buyers are its seeds in ``split``, and the splits of other seeds that
    share the partition hold some of them out as that item's positives, so tuning on such an item would tune
    on other splits' test labels. Inner tasks are thus items with too few buyers to be ``split``'s tasks.
    At most ``max_tasks`` tasks are kept, at random. Raises when no other item has ``min_buyers`` training
    buyers."""
    keep = training_mask(split, user_idx, item_idx)
    users, items = _as_pairs(user_idx, item_idx)
    inner = build_split(
        users[keep],
        items[keep],
        n_users=split.n_users,
        n_items=split.n_items,
        min_buyers=min_buyers,
        seed_fraction=seed_fraction,
        neg_ratio=neg_ratio,
        validation_fraction=0.0,
        seed=seed,
    )
    banned = {t.item for t in split.tasks}
    tasks = tuple(t for t in inner.test if t.item not in banned)
    if not tasks:
        raise ValueError(
            f"no inner task: no item outside the split's tasks has min_buyers={min_buyers} training buyers"
        )
    if len(tasks) > max_tasks:
        pick = np.random.default_rng([seed, 3]).choice(len(tasks), max_tasks, replace=False)
        tasks = tuple(tasks[j] for j in sorted(pick.tolist()))
    return Split(split.n_users, split.n_items, tasks, (), _heldout_of(tasks)), keep


def training_interactions(
    split: Split, user_idx: ArrayLike, item_idx: ArrayLike
) -> tuple[IntArray, IntArray]:
    """The interactions with every held-out edge removed: the training graph of EVERY model."""
    users, items = _as_pairs(user_idx, item_idx)
    keep = training_mask(split, users, items)
    return users[keep], items[keep]


@dataclass(frozen=True)
class Evaluation:
    """T tuned on the validation tasks, and the per-task test metrics at that T."""

    threshold: ThresholdChoice | None
    test: tuple[TaskMetrics, ...]

    def mean(self) -> dict[str, float]:
        return mean_metrics(self.test)


def evaluate(
    split: Split, score: Callable[[Task], NDArray[np.float64]], *, k: int | None = None
) -> Evaluation:
    """Score every task with ``score`` (aligned with ``task.candidates``), tune T on the validation tasks
    (skipped when there are none: the ``*_at_t`` metrics are then NaN) and measure the test tasks."""
    choice = tune_threshold([(score(t), t.labels) for t in split.validation]) if split.validation else None
    t = None if choice is None else choice.threshold
    rows = tuple(
        task_metrics(score(task), task.labels, item=task.item, k=k, threshold=t) for task in split.test
    )
    return Evaluation(threshold=choice, test=rows)
