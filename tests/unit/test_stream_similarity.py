"""The stream's bounded §3.4 update: scoring only the touched users' rows, plus the other users' stored
edges, keeps exactly the edges a full ``top_k`` computation keeps on them."""

from __future__ import annotations

import numpy as np
import pytest

from mokg.polarity import candidate_pairs, user_similarity
from mokg.stream.incremental import kept_pairs


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rated = rng.random((80, 30)) < 0.3
    # coarse values: many ties, so the tie-breaks (co-rated count, then user) decide too
    dense = np.where(rated, np.round(rng.uniform(-1.0, 1.0, rated.shape) * 2) / 2, 0.0)
    users, items = np.nonzero(rated)
    return users, items, dense[users, items]


@pytest.mark.parametrize(("seed", "top_k"), [(1, 3), (2, 5), (3, 1), (4, 0)])
def test_kept_pairs_match_a_full_top_k_computation(seed: int, top_k: int) -> None:
    users, items, pol = _case(seed)
    ids = [f"u{k:03d}" for k in range(80)]  # id order = index order, as training sorts them
    full = user_similarity(users, items, pol, 80, 30, t_sim=0.0, min_co_rated=2, top_k=top_k or None)
    edges = {
        (ids[a], ids[b]): (float(s), int(n))
        for a, b, s, n in zip(full.src, full.dst, full.sim, full.n_co_rated, strict=True)
    }
    touched = {ids[k] for k in (0, 7, 8, 33, 52, 79)}
    cand = candidate_pairs(
        users, items, pol, 80, 30, [ids.index(u) for u in touched], t_sim=0.0, min_co_rated=2
    )
    candidates = [
        (ids[a], ids[b], float(s), int(n))
        for a, b, s, n in zip(cand.src, cand.dst, cand.sim, cand.n_co_rated, strict=True)
    ]
    # what the graph holds for the others: their stored edges to users outside the batch
    outside: dict[str, list[tuple[str, float, int]]] = {}
    for (a, b), (s, n) in edges.items():
        if a not in touched and b not in touched:
            outside.setdefault(a, []).append((b, s, n))
            outside.setdefault(b, []).append((a, s, n))
    asked: list[list[str]] = []

    def stored(others: list[str]) -> dict[str, list[tuple[str, float, int]]]:
        asked.append(others)
        return {b: outside.get(b, []) for b in others}

    got = {(r["src"], r["dst"]): (r["sim"], r["n"]) for r in kept_pairs(candidates, touched, top_k, stored)}
    expected = {p: v for p, v in edges.items() if touched & set(p)}
    assert len(expected) >= 6
    if top_k:
        # the others' stored edges decide: ranked among the batch's users alone, they would keep more
        own_only = {(r["src"], r["dst"]) for r in kept_pairs(candidates, touched, top_k, lambda _: {})}
        assert own_only > set(expected)
        # asked once, for users outside the batch only
        assert len(asked) == 1 and asked[0] and not touched & set(asked[0])
    else:
        assert not asked
    assert set(got) == set(expected)
    assert all(got[p][0] == pytest.approx(v[0], abs=1e-9) and got[p][1] == v[1] for p, v in expected.items())
