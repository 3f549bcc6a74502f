"""The stream's bounded §3.4 update against a full ``top_k`` computation: scoring only the touched users'
rows, the stored edges of their co-raters (as the graph holds them before the batch), the whole rows of the
co-raters whose stored edge to a touched user is gone or ranks lower, and the stored edges of the far ends
of edges that may leave. After each batch the graph holds exactly the full computation's edges."""

from __future__ import annotations

import numpy as np
import pytest

from mokg.polarity import candidate_pairs, user_similarity
from mokg.stream.incremental import Candidate, SimilarChange, kept_pairs

N_USERS, N_ITEMS = 60, 25
IDS = [f"u{k:03d}" for k in range(N_USERS)]  # id order = index order, as training sorts them
# Not a value these coarse polarities give exactly: at exactly t_sim, rounding decides the strict "above",
# and the stream's sums (over the reviews it reads) round differently from training's.
T_SIM = 0.013
Edges = dict[tuple[str, str], tuple[float, int]]


def _full(rated: np.ndarray, dense: np.ndarray, top_k: int) -> Edges:
    users, items = np.nonzero(rated)
    e = user_similarity(
        users, items, dense[users, items], N_USERS, N_ITEMS, t_sim=T_SIM, min_co_rated=2, top_k=top_k or None
    )
    return {
        (IDS[a], IDS[b]): (float(s), int(n))
        for a, b, s, n in zip(e.src, e.dst, e.sim, e.n_co_rated, strict=True)
    }


def _rows(rated: np.ndarray, dense: np.ndarray, of: list[int]) -> list[Candidate]:
    """What the stream scores for users ``of``: their candidates from every review of the items they rated."""
    cols = rated[of].any(axis=0)
    users, items = np.nonzero(rated[:, cols])
    c = candidate_pairs(
        users, items, dense[:, cols][users, items], N_USERS, int(cols.sum()), of, t_sim=T_SIM, min_co_rated=2
    )
    return [
        (IDS[a], IDS[b], float(s), int(n))
        for a, b, s, n in zip(c.src, c.dst, c.sim, c.n_co_rated, strict=True)
    ]


def _change(
    rated: np.ndarray, dense: np.ndarray, touched: list[int], top_k: int, graph: Edges
) -> tuple[set[str], SimilarChange]:
    """What `update_similarity` of ``touched`` decides, ranking against ``graph`` as stored."""
    ids = {IDS[k] for k in touched}
    stored: dict[str, list[tuple[str, float, int]]] = {}
    for (a, b), (s, n) in graph.items():
        stored.setdefault(a, []).append((b, s, n))
        stored.setdefault(b, []).append((a, s, n))
    asked: list[list[str]] = []

    def edges_of(others: list[str]) -> dict[str, list[tuple[str, float, int]]]:
        asked.append(others)
        return {b: stored.get(b, []) for b in others}

    def rows_of(others: list[str]) -> list[Candidate]:
        assert not ids & set(others)
        return _rows(rated, dense, [IDS.index(u) for u in others])

    change = kept_pairs(_rows(rated, dense, touched), ids, top_k, edges_of, rows_of)
    # asked when a bound makes the other side's rank matter: for the co-raters, then for far ends, if any
    assert len(asked) in ((1, 2) if top_k else (0,))
    assert not top_k or not ids & {u for p in change.dropped for u in p}
    return ids, change


def _apply(graph: Edges, touched: set[str], change: SimilarChange) -> Edges:
    """``cypher/stream/replace_user_similar``: the touched users' edges and the dropped pairs deleted, the
    change's edges written."""
    out = {p: v for p, v in graph.items() if not touched & set(p) and p not in change.dropped}
    return out | {(r["src"], r["dst"]): (r["sim"], r["n"]) for r in change.edges}


def _update(rated: np.ndarray, dense: np.ndarray, touched: list[int], top_k: int, graph: Edges) -> Edges:
    """The graph's SIMILAR_TO after `update_similarity` of ``touched``."""
    return _apply(graph, *_change(rated, dense, touched, top_k, graph))


def _on(edges: Edges, touched: list[int]) -> Edges:
    ids = {IDS[k] for k in touched}
    return {p: v for p, v in edges.items() if ids & set(p)}


def _same(got: Edges, expected: Edges) -> bool:
    return set(got) == set(expected) and all(
        got[p][0] == pytest.approx(v[0], abs=1e-9) and got[p][1] == v[1] for p, v in expected.items()
    )


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    rated = rng.random((N_USERS, N_ITEMS)) < 0.3
    # coarse values: many ties, so the tie-breaks (co-rated count, then user) decide too
    dense = np.where(rated, np.round(rng.uniform(-1.0, 1.0, rated.shape) * 2) / 2, 0.0)
    dense[~rated] = np.round(rng.uniform(-1.0, 1.0, (~rated).sum()) * 2) / 2  # values for later reviews
    return rated, dense, rng


@pytest.mark.parametrize("top_k", [0, 1, 3, 5])
def test_new_users_get_exactly_the_edges_of_a_full_computation(top_k: int) -> None:
    for seed in range(30):
        rated, dense, rng = _case(seed)
        touched = sorted(rng.choice(N_USERS, 6, replace=False).tolist())
        before = rated.copy()
        before[touched] = False  # the batch brings the touched users' first reviews
        got = _update(rated, dense, touched, top_k, _full(before, dense, top_k))
        assert _same(got, _full(rated, dense, top_k)), seed


@pytest.mark.parametrize("top_k", [1, 3])
def test_batch_after_batch_the_graph_stays_that_of_a_full_computation(top_k: int) -> None:
    # Known users get more reviews, batch after batch, and the stream's graph is carried along: a co-rater
    # whose stored edge to a touched user fell is ranked over its whole row, the untouched edges that enter
    # its top_k are written, and those that left it (and the other user's) are dropped.
    added = dropped = 0
    for seed in range(15):
        rated, dense, rng = _case(seed)
        graph = _full(rated, dense, top_k)
        for _ in range(4):
            touched = sorted(rng.choice(N_USERS, 5, replace=False).tolist())
            rated = rated.copy()
            rated[touched] |= rng.random((len(touched), N_ITEMS)) < 0.2
            after = _full(rated, dense, top_k)
            before, graph = graph, _update(rated, dense, touched, top_k, graph)
            assert _same(graph, after), seed
            on_touched = set(_on(before, touched)) | set(_on(graph, touched))
            added += len(set(graph) - set(before) - on_touched)
            dropped += len(set(before) - set(graph) - on_touched)
    # both kinds of change between two untouched users happened, so both paths ran
    assert added > 0
    assert dropped > 0


def test_two_batches_that_read_before_either_writes_go_wrong_so_batches_take_turns() -> None:
    # Why mokg.stream.lock exists: two batches in flight whose updates both rank against the edges stored
    # before either (both batches' reviews written) leave a graph unlike a full recomputation in most cases;
    # the same batches in turns (the second writes its reviews and ranks after the first's update) never do.
    raced = 0
    for seed in range(60):
        rated, dense, rng = _case(seed)
        graph = _full(rated, dense, 2)
        users = rng.choice(N_USERS, 10, replace=False).tolist()
        first, second = sorted(users[:5]), sorted(users[5:])
        both = rated.copy()
        both[first + second] |= rng.random((10, N_ITEMS)) < 0.2
        together = _change(both, dense, first, 2, graph), _change(both, dense, second, 2, graph)
        raced += not _same(_apply(_apply(graph, *together[0]), *together[1]), _full(both, dense, 2))
        only_first = both.copy()
        only_first[second] = rated[second]
        in_turns = _update(both, dense, second, 2, _update(only_first, dense, first, 2, graph))
        assert _same(in_turns, _full(both, dense, 2)), seed
    assert raced > 10
