"""The Figure 6 seed-size curve: n random seeds per task, not the n lowest user ids."""

from __future__ import annotations

import numpy as np

from mokg.lookalike.evaluation import _fewer_seeds
from mokg.lookalike.protocol import build_split


def test_the_seed_curve_draws_random_nested_seed_subsets() -> None:
    rng = np.random.default_rng(0)
    users = np.concatenate([rng.choice(500, 40, replace=False) for _ in range(30)])
    items = np.repeat(np.arange(30), 40)
    split = build_split(users, items, n_users=500, n_items=30, min_buyers=20, seed=3)
    tasks = split.tasks
    fewer = {n: _fewer_seeds(split, n, 3).tasks for n in (1, 2, 5, 10)}
    for n, cut in fewer.items():
        for t, c in zip(tasks, cut, strict=True):
            assert c.item == t.item and c.seeds.size == n and set(c.seeds) <= set(t.seeds)
            assert np.array_equal(c.candidates, t.candidates)  # the held-out set stays as it was
    # nested: each n keeps the smaller n's seeds
    for small, big in ((1, 2), (2, 5), (5, 10)):
        assert all(set(a.seeds) <= set(b.seeds) for a, b in zip(fewer[small], fewer[big], strict=True))
    # random, not the lowest ids (seeds are stored sorted): with 20 seeds, the lowest is drawn 1 time in 20
    lowest = sum(int(c.seeds[0]) == int(t.seeds[0]) for t, c in zip(tasks, fewer[1], strict=True))
    assert lowest <= len(tasks) // 3
    # fixed by the split seed and the task: the same again, another split seed another draw
    again = _fewer_seeds(split, 2, 3).tasks
    assert all(np.array_equal(a.seeds, b.seeds) for a, b in zip(again, fewer[2], strict=True))
    other = _fewer_seeds(split, 2, 4).tasks
    assert any(not np.array_equal(a.seeds, b.seeds) for a, b in zip(other, fewer[2], strict=True))
