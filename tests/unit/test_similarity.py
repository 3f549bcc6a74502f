"""GLoM §3.4, Eq. 1: user–user Pearson similarity over co-rated items."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

import mokg.polarity.similarity as similarity
from mokg.polarity.similarity import SimilarityEdges, similarity_edges, user_similarity

# Users × items; None = not rated. User 2 rates item 3 with polarity exactly 0, user 3 is constant.
HAND = [
    [1.0, 0.5, 0.0, -0.5],
    [0.8, 0.6, 0.1, None],
    [None, -0.2, 0.4, 0.0],
    [0.3, 0.3, None, None],
]


def hand_coo() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    entries = [(u, i, p) for u, row in enumerate(HAND) for i, p in enumerate(row) if p is not None]
    users, items, values = zip(*entries, strict=True)
    return np.array(users), np.array(items), np.array(values, dtype=float)


def as_dict(edges: SimilarityEdges) -> dict[tuple[int, int], tuple[float, int]]:
    return {
        (int(a), int(b)): (float(s), int(n))
        for a, b, s, n in zip(edges.src, edges.dst, edges.sim, edges.n_co_rated, strict=True)
    }


# (0,1): CM={0,1,2}, deviations (.5,0,−.5)·(.3,.1,−.4) → .35/sqrt(.5·.26)
SIM_01 = 0.35 / math.sqrt(0.5 * 0.26)
# (0,2): CM={1,2,3} (item 3 counts although user 2's polarity is 0): means 0 and 1/15,
# cov = −.1, var_a = .5, var_b = 1.68/9
SIM_02 = -0.1 / math.sqrt(0.5 * 1.68 / 9)
# (1,2): CM={1,2}: two points are perfectly anti-correlated. (·,3): user 3 is constant on CM → skipped.


def test_hand_computed_three_users_plus_constant_user() -> None:
    users, items, values = hand_coo()
    edges = as_dict(user_similarity(users, items, values, 4, 4, t_sim=-1.5, min_co_rated=2))
    assert set(edges) == {(0, 1), (0, 2), (1, 2)}
    assert edges[(0, 1)][0] == pytest.approx(SIM_01, abs=1e-12)
    assert edges[(0, 2)][0] == pytest.approx(SIM_02, abs=1e-12)
    assert edges[(1, 2)][0] == pytest.approx(-1.0, abs=1e-12)
    assert {k: v[1] for k, v in edges.items()} == {(0, 1): 3, (0, 2): 3, (1, 2): 2}


def test_thresholds_are_applied() -> None:
    users, items, values = hand_coo()
    assert set(as_dict(user_similarity(users, items, values, 4, 4, t_sim=-0.5, min_co_rated=2))) == {
        (0, 1),
        (0, 2),
    }
    assert set(as_dict(user_similarity(users, items, values, 4, 4, t_sim=0.5, min_co_rated=2))) == {(0, 1)}
    # strictly greater ("exceeds"): a threshold equal to the computed similarity drops the pair
    sim_01 = as_dict(user_similarity(users, items, values, 4, 4, t_sim=0.5, min_co_rated=2))[(0, 1)][0]
    assert len(user_similarity(users, items, values, 4, 4, t_sim=sim_01, min_co_rated=2)) == 0
    assert len(user_similarity(users, items, values, 4, 4, t_sim=-1.5, min_co_rated=4)) == 0


def test_stored_zero_polarity_is_rated_via_mask() -> None:
    users, items, values = hand_coo()
    polarity = sp.csr_array(sp.coo_array((values, (users, items)), shape=(4, 4)))
    polarity.eliminate_zeros()  # the zero of user 2 on item 3 is gone from P ...
    rated = sp.csr_array(sp.coo_array((np.ones(users.size), (users, items)), shape=(4, 4)))
    edges = as_dict(similarity_edges(polarity, rated, t_sim=-0.5, min_co_rated=2))
    # ... but the mask keeps item 3 in CM(0, 2); without it CM = {1, 2} and the similarity would be −1.
    assert edges[(0, 2)] == (pytest.approx(SIM_02, abs=1e-12), 3)


def brute_force(dense: np.ndarray, rated: np.ndarray, t_sim: float, min_co_rated: int) -> dict:
    out = {}
    for a in range(dense.shape[0]):
        for b in range(a + 1, dense.shape[0]):
            cm = rated[a] & rated[b]
            if cm.sum() < min_co_rated:
                continue
            x, y = dense[a, cm], dense[b, cm]
            if np.ptp(x) == 0 or np.ptp(y) == 0:
                continue
            dx, dy = x - x.mean(), y - y.mean()
            sim = float(dx @ dy / math.sqrt((dx @ dx) * (dy @ dy)))
            if sim > t_sim:
                out[(a, b)] = (sim, int(cm.sum()))
    return out


def random_case(seed: int, coarse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rated = rng.random((60, 40)) < 0.25
    dense = np.where(rated, rng.uniform(-1.0, 1.0, (60, 40)), 0.0)
    if coarse:  # few distinct values: ties, and sums over CM that cancel exactly
        dense = np.round(dense * 2) / 2
    dense[rated & (rng.random((60, 40)) < 0.1)] = 0.0  # exact zero polarities that stay rated
    dense[5] = np.where(rated[5], 0.7, 0.0)  # a constant user: every pair with it is undefined
    return dense, rated


@pytest.mark.parametrize(
    ("t_sim", "min_co_rated", "coarse"),
    [(-0.2, 2, False), (0.5, 3, False), (-2.0, 1, False), (-0.2, 2, True)],
)
def test_matches_brute_force_reference(t_sim: float, min_co_rated: int, coarse: bool) -> None:
    check_against_brute_force(t_sim, min_co_rated, coarse)


def check_against_brute_force(t_sim: float, min_co_rated: int, coarse: bool) -> None:
    dense, rated = random_case(seed=11, coarse=coarse)
    expected = brute_force(dense, rated, t_sim, min_co_rated)
    got = as_dict(
        similarity_edges(
            sp.csr_array(dense), sp.csr_array(rated.astype(float)), t_sim=t_sim, min_co_rated=min_co_rated
        )
    )
    assert len(expected) > 50  # the case is not trivially empty
    assert set(got) == set(expected)
    for pair, (sim, n) in expected.items():
        assert got[pair][1] == n
        assert got[pair][0] == pytest.approx(sim, abs=1e-9)


def test_realignment_when_products_drop_exact_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    # Direct: row 0 of P Bᵀ sums to exactly 0 and is dropped by scipy; it must come back as 0, not shift.
    mask = sp.csr_array(np.ones((2, 2)))
    product = sp.csr_array(np.array([[1.0, -1.0], [1.0, 1.0]])) @ mask.T
    assert product.nnz == 2
    np.testing.assert_allclose(similarity._EntryIndex(mask @ mask.T).values(product), [0.0, 0.0, 2.0, 2.0])
    # End to end: centring on the exact mean makes coarse polarities cancel (and get dropped) all the time.
    monkeypatch.setattr(similarity, "CENTRE_SHIFT", 0.0)
    check_against_brute_force(-0.2, 2, coarse=True)


def test_block_size_independence() -> None:
    dense, rated = random_case(seed=3)
    users, items = np.nonzero(rated)
    values = dense[users, items]

    def run(**blocks: int) -> SimilarityEdges:
        return user_similarity(users, items, values, 60, 40, t_sim=0.0, min_co_rated=2, **blocks)

    reference = run(block_size=60, max_block_pairs=10**9)
    assert len(reference) > 50
    for other in (run(block_size=1), run(block_size=7), run(block_size=60, max_block_pairs=1)):
        np.testing.assert_array_equal(other.src, reference.src)
        np.testing.assert_array_equal(other.dst, reference.dst)
        np.testing.assert_array_equal(other.n_co_rated, reference.n_co_rated)
        np.testing.assert_allclose(other.sim, reference.sim, rtol=0, atol=1e-12)
    assert np.all(reference.src < reference.dst)
    assert np.all(np.diff(reference.src * 60 + reference.dst) > 0)  # sorted by (src, dst)


def test_duplicate_reviews_are_averaged() -> None:
    users, items, values = hand_coo()
    # User 0's polarity 1.0 on item 0 arrives as two reviews 0.7 and 1.3 (mean 1.0).
    first = np.flatnonzero((users == 0) & (items == 0))[0]
    dup_users = np.append(users, 0)
    dup_items = np.append(items, 0)
    dup_values = np.append(values, 1.3)
    dup_values[first] = 0.7
    edges = as_dict(user_similarity(dup_users, dup_items, dup_values, 4, 4, t_sim=-1.5, min_co_rated=2))
    assert edges[(0, 1)] == (pytest.approx(SIM_01, abs=1e-12), 3)


def test_no_reviews_and_bad_inputs() -> None:
    empty = user_similarity(
        np.array([], int), np.array([], int), np.array([]), 3, 2, t_sim=0.0, min_co_rated=2
    )
    assert len(empty) == 0 and empty.src.dtype == np.int64
    assert len(user_similarity([], [], [], 3, 2, t_sim=0.0, min_co_rated=2)) == 0  # plain empty lists
    with pytest.raises(ValueError, match="integer"):
        user_similarity([0.0], [1.5], [0.1], 3, 2, t_sim=0.0, min_co_rated=2)
    with pytest.raises(ValueError, match="out of range"):
        user_similarity(
            np.array([0, 3]), np.array([0, 0]), np.array([0.1, 0.2]), 3, 2, t_sim=0.0, min_co_rated=2
        )
    with pytest.raises(ValueError, match="min_co_rated"):
        user_similarity(np.array([0]), np.array([0]), np.array([0.1]), 1, 1, t_sim=0.0, min_co_rated=0)
    polarity = sp.csr_array(np.array([[0.5, 0.2]]))
    rated = sp.csr_array(np.array([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="rated is empty"):
        similarity_edges(polarity, rated, t_sim=0.0)


def top_k_reference(edges: dict, top_k: int) -> set[tuple[int, int]]:
    """A pair stays if it is among the top_k best of either endpoint (sim, then co-rated, then index)."""
    chosen: set[tuple[int, int]] = set()
    users = {u for pair in edges for u in pair}
    for u in users:
        mine = [(b if a == u else a, pair) for pair in edges for a, b in [pair] if u in pair]
        mine.sort(key=lambda o: (-round(edges[o[1]][0], 9), -edges[o[1]][1], o[0]))
        chosen |= {pair for _, pair in mine[:top_k]}
    return chosen


@pytest.mark.parametrize("coarse", [False, True])
@pytest.mark.parametrize("block_size", [1, 7, 60])
def test_top_k_keeps_each_users_best_pairs(coarse: bool, block_size: int) -> None:
    dense, rated = random_case(seed=11, coarse=coarse)
    users, items = np.nonzero(rated)
    full = as_dict(user_similarity(users, items, dense[users, items], 60, 40, t_sim=-0.2, min_co_rated=2))
    capped = user_similarity(
        users, items, dense[users, items], 60, 40, t_sim=-0.2, min_co_rated=2, top_k=3, block_size=block_size
    )
    expected = top_k_reference(full, 3)
    assert len(full) > 3 * len(expected) / 2 > 0  # the bound really removes pairs
    assert set(as_dict(capped)) == expected
    assert all(as_dict(capped)[p] == pytest.approx(full[p], abs=1e-9) for p in expected)
    assert np.all(np.diff(capped.src * 60 + capped.dst) > 0)  # still sorted, each pair once


def test_top_k_larger_than_any_degree_changes_nothing() -> None:
    dense, rated = random_case(seed=3)
    users, items = np.nonzero(rated)
    args = (users, items, dense[users, items], 60, 40)
    full = user_similarity(*args, t_sim=0.0, min_co_rated=2)
    capped = user_similarity(*args, t_sim=0.0, min_co_rated=2, top_k=60)
    np.testing.assert_array_equal(capped.src, full.src)
    np.testing.assert_array_equal(capped.dst, full.dst)
    with pytest.raises(ValueError, match="top_k"):
        user_similarity(*args, t_sim=0.0, min_co_rated=2, top_k=0)


@pytest.mark.parametrize("entry", ["coo", "matrix"])
def test_items_with_more_raters_than_the_bound_leave_every_co_rated_set(entry: str) -> None:
    dense, rated = random_case(seed=11)
    degree = rated.sum(axis=0)
    cap = int(np.median(degree))
    popular = degree > cap
    assert 0 < popular.sum() < len(degree)  # the bound removes some items, not all
    # the reference: Eq. 1 by brute force on the ratings of the other items only
    expected = brute_force(np.where(popular, 0.0, dense), rated & ~popular, -0.2, 2)
    if entry == "coo":
        users, items = np.nonzero(rated)
        got = user_similarity(
            users, items, dense[users, items], 60, 40, t_sim=-0.2, min_co_rated=2, max_item_raters=cap
        )
    else:
        got = similarity_edges(
            sp.csr_array(dense),
            sp.csr_array(rated.astype(float)),
            t_sim=-0.2,
            min_co_rated=2,
            max_item_raters=cap,
        )
    assert len(expected) > 20
    assert as_dict(got).keys() == expected.keys()
    assert all(as_dict(got)[p] == pytest.approx(v, abs=1e-9) for p, v in expected.items())
    with pytest.raises(ValueError, match="max_item_raters"):
        user_similarity(
            np.array([0]), np.array([0]), np.array([0.5]), 1, 1, t_sim=0.0, min_co_rated=2, max_item_raters=1
        )


@pytest.mark.parametrize("coarse", [False, True])
def test_candidate_pairs_are_the_rows_part_of_every_pair(coarse: bool) -> None:
    dense, rated = random_case(seed=11, coarse=coarse)
    users, items = np.nonzero(rated)
    full = as_dict(user_similarity(users, items, dense[users, items], 60, 40, t_sim=-0.2, min_co_rated=2))
    rows = [3, 5, 17, 40, 41]
    # the reviews of the rows' items are enough: the others cannot enter their co-rated sets
    theirs = rated[:, rated[rows].any(axis=0)]
    sub_users, sub_items = np.nonzero(theirs)
    dense_sub = dense[:, rated[rows].any(axis=0)]
    got = similarity.candidate_pairs(
        sub_users,
        sub_items,
        dense_sub[sub_users, sub_items],
        60,
        theirs.shape[1],
        rows,
        t_sim=-0.2,
        min_co_rated=2,
        max_block_pairs=50,  # several blocks
    )
    expected = {(a, b): v for (a, b), v in full.items() if a in rows} | {
        (b, a): v for (a, b), v in full.items() if b in rows
    }
    assert len(expected) > 20
    assert set(as_dict(got)) == set(expected)
    assert all(as_dict(got)[p] == pytest.approx(v, abs=1e-9) for p, v in expected.items())
    assert np.all(np.diff(got.src * 60 + got.dst) > 0)
