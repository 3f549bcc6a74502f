"""Embedding scoring rules and ``expand`` (scoring.py), and the lookalike baselines (baselines.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from mokg.lookalike.baselines import (
    Baseline,
    EmbeddingBaseline,
    LightGCNBaseline,
    PearsonCFBaseline,
    PopularityBaseline,
    RandomBaseline,
    TrainData,
    TransEBaseline,
    seed_list_negatives,
)
from mokg.lookalike.graphsage import GraphSAGEBaseline
from mokg.lookalike.metaheac import MetaHeacBaseline, _Graph
from mokg.lookalike.metrics import average_precision
from mokg.lookalike.pinterest import PinterestBaseline
from mokg.lookalike.protocol import Split, build_split
from mokg.lookalike.registry import BASELINE_NAMES, make_baseline
from mokg.lookalike.scoring import (
    expand,
    score_candidates,
    score_centroid,
    score_knn_vote,
    score_max_seed,
    unit_rows,
)

torch.set_num_threads(1)
R2 = 1 / math.sqrt(2)

# users: 0 = x-axis, 1 = y-axis, 2 = diagonal, 3 = -x, 4 = zero vector, 5 = 2·x-axis
HAND = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.0, 0.0], [2.0, 0.0]])


# -- scoring rules on a hand case -------------------------------------------------------------


def test_unit_rows_keeps_zero_rows() -> None:
    u = unit_rows(HAND)
    assert np.allclose(np.linalg.norm(u[[0, 1, 2, 3, 5]], axis=1), 1.0)
    assert np.array_equal(u[4], [0.0, 0.0])


def test_centroid_hand_case() -> None:
    # mean unit seed = (1/2, 1/2) -> direction (1, 1)/√2
    got = score_centroid(HAND, [0, 1], [2, 3, 4, 5])
    assert np.allclose(got, [1.0, -R2, 0.0, R2])
    # seed norms do not matter: user 5 = 2·user 0
    assert np.allclose(score_centroid(HAND, [5, 1], [2, 3, 4]), got[:3])


def test_max_seed_hand_case() -> None:
    assert np.allclose(score_max_seed(HAND, [0, 1], [2, 3, 4, 5]), [R2, 0.0, 0.0, 1.0])
    assert np.allclose(score_max_seed(HAND, [3], [0, 5]), [-1.0, -1.0])


def test_knn_vote_hand_case() -> None:
    cands = [2, 3, 5]
    # m=1: seed 0 picks user 5 (cos 1), seed 1 picks user 2 (cos 1/√2)
    assert np.allclose(score_knn_vote(HAND, [0, 1], cands, m=1), [R2, 0.0, 1.0])
    assert np.allclose(score_knn_vote(HAND, [0, 1], cands, m=1, vote="count"), [1, 0, 1])
    # m=2: seed 0 picks 5 and 2; seed 1 picks 2, then the tie 3 vs 5 (both cos 0) goes to the earlier one, 3
    assert np.allclose(score_knn_vote(HAND, [0, 1], cands, m=2), [2 * R2, 0.0, 1.0])
    assert np.allclose(score_knn_vote(HAND, [0, 1], cands, m=2, vote="count"), [2, 1, 1])


def test_dispatch_and_errors() -> None:
    assert np.allclose(score_candidates(HAND, [0, 1], [2], "centroid"), [1.0])
    assert np.allclose(score_candidates(HAND, [0, 1], [2], "max_seed"), [R2])
    with pytest.raises(ValueError, match="method"):
        score_candidates(HAND, [0], [2], "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no seeds"):
        score_max_seed(HAND, [], [2])
    with pytest.raises(ValueError, match="out of range"):
        score_centroid(HAND, [0], [6])


def test_max_seed_and_knn_match_brute_force_across_blocks() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(5000, 6))  # more candidates than one 4096-row block
    seeds = rng.choice(5000, 30, replace=False)
    cands = np.setdiff1d(np.arange(5000), seeds)
    u = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sims = u[cands] @ u[seeds].T
    assert np.allclose(score_max_seed(emb, seeds, cands), sims.max(axis=1))
    top = np.argsort(-sims, axis=0, kind="stable")[:7]  # each seed's 7 nearest candidates
    expected = np.zeros(cands.size)
    for j in range(seeds.size):
        expected[top[:, j]] += sims[top[:, j], j]
    assert np.allclose(score_knn_vote(emb, seeds, cands, m=7), expected)


# -- expand -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(200, 5))


@pytest.mark.parametrize("method", ["max_seed", "centroid", "knn_vote"])
def test_expand_never_returns_seeds_or_excluded(cloud: np.ndarray, method: str) -> None:
    seeds, exclude = np.arange(0, 20), np.arange(20, 50)
    out = expand(cloud, seeds, k=500, exclude=exclude, method=method)  # type: ignore[arg-type]
    assert out.users.size == 200 - 50  # k beyond the pool returns the whole pool
    assert not np.isin(out.users, np.r_[seeds, exclude]).any()
    assert np.unique(out.users).size == out.users.size
    assert np.all(np.diff(out.scores) <= 0)  # best first


def test_expand_k_and_threshold(cloud: np.ndarray) -> None:
    seeds = [3, 17, 42]
    top10 = expand(cloud, seeds, k=10)
    assert top10.users.size == 10
    everybody = expand(cloud, seeds, k=1000)
    assert np.array_equal(top10.users, everybody.users[:10])
    t = float(np.median(everybody.scores))
    above = expand(cloud, seeds, threshold=t)
    assert (above.scores >= t).all()
    assert above.users.size == int((everybody.scores >= t).sum())
    both = expand(cloud, seeds, threshold=t, k=5)
    assert np.array_equal(both.users, above.users[:5])
    assert expand(cloud, seeds, threshold=2.0).users.size == 0  # cosine never exceeds 1
    assert expand(cloud, seeds, k=0).users.size == 0
    with pytest.raises(ValueError, match="k, threshold"):
        expand(cloud, seeds)


def test_expand_at_threshold_is_the_union_of_seed_neighbourhoods(cloud: np.ndarray) -> None:
    # §3.7: the audience is every user within similarity T of some seed
    seeds, t = np.array([5, 6, 7]), 0.6
    u = unit_rows(cloud)
    near_some_seed = (u @ u[seeds].T >= t).any(axis=1)
    near_some_seed[seeds] = False
    got = expand(cloud, seeds, threshold=t, method="max_seed")
    assert set(got.users.tolist()) == set(np.flatnonzero(near_some_seed).tolist())


def test_expand_orders_ties_by_user_index() -> None:
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    assert expand(emb, [0], k=3).users.tolist() == [1, 2, 4]


# -- training data ----------------------------------------------------------------------------


def test_train_data_from_pairs() -> None:
    train = TrainData.from_pairs(
        [0, 0, 1, 2, 0],
        [1, 1, 2, 0, 2],
        n_users=3,
        n_items=3,
        ratings=[4, 5, 3, 1, 2],
        item_categories=[[0], [0, 1], []],
    )
    assert train.interactions.toarray().tolist() == [[0, 1, 1], [0, 0, 1], [1, 0, 0]]
    assert train.ratings is not None
    assert train.ratings.toarray()[0, 1] == 5  # repeated pair: last rating wins
    assert train.category_matrix().toarray().tolist() == [[1, 0], [1, 1], [0, 0]]
    with pytest.raises(ValueError, match="item_categories"):
        TrainData.from_pairs([0], [0], 1, 2, item_categories=[[0]])


# -- a planted-community toy world ------------------------------------------------------------


def planted(
    seed: int = 0, n_users: int = 400, n_comm: int = 4, items_per: int = 15
) -> tuple[np.ndarray, np.ndarray, int, int, list[list[int]]]:
    """Users in ``n_comm`` communities buy mostly their community's items (20:1 weight), with heavy-tailed
    activity (Zipf), so both "similar users" and "active users" carry signal."""
    rng = np.random.default_rng(seed)
    n_items = n_comm * items_per
    comm = rng.integers(0, n_comm, n_users)
    item_comm = np.repeat(np.arange(n_comm), items_per)
    activity = np.minimum(2 + rng.zipf(1.8, n_users), 30)
    weight = np.where(comm[:, None] == item_comm[None, :], 20.0, 1.0)
    keys = np.log(weight) + rng.gumbel(size=weight.shape)  # Gumbel top-k = weighted sampling w/o replacement
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    users, items = np.nonzero(rank < activity[:, None])
    return users, items, n_users, n_items, [[int(c)] for c in item_comm]


@pytest.fixture(scope="module")
def world() -> tuple[Split, TrainData]:
    users, items, n_users, n_items, cats = planted()
    split = build_split(users, items, n_users=n_users, n_items=n_items, min_buyers=20, seed=0)
    return split, TrainData.from_split(split, users, items, item_categories=cats)


def small(name: str, seed: int) -> Baseline:
    """Baselines with test-sized training budgets."""
    if name == "lightgcn":
        return LightGCNBaseline(epochs=5, seed=seed)
    if name == "transe":
        return TransEBaseline(epochs=3, seed=seed)
    if name == "graphsage":
        return GraphSAGEBaseline(epochs=5, seed=seed)
    if name == "metaheac":
        return MetaHeacBaseline(steps=10, tasks_per_step=4, seed=seed)
    return make_baseline(name, seed=seed)


@pytest.fixture(scope="module")
def fitted(world: tuple[Split, TrainData]) -> dict[str, Baseline]:
    _, train = world
    out: dict[str, Baseline] = {}
    for name in BASELINE_NAMES:
        b = small(name, seed=0)
        b.fit(train)
        out[name] = b
    return out


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_score_shape_and_finiteness(
    name: str, world: tuple[Split, TrainData], fitted: dict[str, Baseline]
) -> None:
    split, _ = world
    for task in split.tasks[:5]:
        scores = fitted[name].score(task)
        assert scores.shape == task.candidates.shape
        assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_determinism_with_a_seed(
    name: str, world: tuple[Split, TrainData], fitted: dict[str, Baseline]
) -> None:
    split, train = world
    again = small(name, seed=0)
    again.fit(train)
    for task in split.tasks[:3]:
        assert np.allclose(again.score(task), fitted[name].score(task), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_scores_never_read_the_labels(
    name: str, world: tuple[Split, TrainData], fitted: dict[str, Baseline]
) -> None:
    # a task whose labels/positives/negatives are scrambled must get exactly the same scores
    split, _ = world
    task = split.tasks[0]
    perm = np.random.default_rng(9).permutation(task.labels.size)
    fake = replace(
        task,
        labels=task.labels[perm],
        positives=task.candidates[task.labels[perm]],
        negatives=task.candidates[:2],
    )
    assert np.array_equal(fitted[name].score(fake), fitted[name].score(task))


def test_random_seed_changes_scores(world: tuple[Split, TrainData]) -> None:
    split, train = world
    a, b = RandomBaseline(seed=0), RandomBaseline(seed=1)
    a.fit(train)
    b.fit(train)
    assert not np.allclose(a.score(split.tasks[0]), b.score(split.tasks[0]))


def test_popularity_is_training_activity(world: tuple[Split, TrainData], fitted: dict[str, Baseline]) -> None:
    split, train = world
    task = split.tasks[0]
    expected = train.interactions.toarray().sum(axis=1)[task.candidates]
    assert np.array_equal(fitted["popularity"].score(task), expected)


def test_pearson_cf_matches_dense_correlations(world: tuple[Split, TrainData]) -> None:
    split, train = world
    cf = PearsonCFBaseline()
    cf.fit(train)
    task = split.tasks[1]
    x = np.delete(train.interactions.toarray(), task.item, axis=1)  # the task item's column is left out
    with np.errstate(invalid="ignore", divide="ignore"):  # constant rows: NaN, which CF defines as 0
        corr = np.corrcoef(x[task.candidates], x[task.seeds])[: task.candidates.size, task.candidates.size :]
    assert np.isnan(corr).any()  # the case is exercised
    assert np.allclose(cf.score(task), np.nan_to_num(corr).mean(axis=1))


def test_embedding_baseline_with_given_embeddings(world: tuple[Split, TrainData]) -> None:
    split, train = world
    emb = np.random.default_rng(0).normal(size=(train.n_users, 4))
    b = EmbeddingBaseline(emb, method="max_seed")
    b.fit(train)
    task = split.tasks[0]
    assert np.allclose(b.score(task), score_max_seed(emb, task.seeds, task.candidates))
    with pytest.raises(RuntimeError, match="fit"):
        PopularityBaseline().score(task)


def test_transe_triples_and_embeddings(world: tuple[Split, TrainData], fitted: dict[str, Baseline]) -> None:
    _, train = world
    transe, lightgcn = fitted["transe"], fitted["lightgcn"]
    assert isinstance(transe, TransEBaseline) and isinstance(lightgcn, LightGCNBaseline)
    triples = transe.triples(train)
    assert (triples[:, 1] == 0).sum() == train.interactions.nnz  # user BOUGHT item
    assert (triples[:, 1] == 1).sum() == train.n_items  # each toy item has one category
    assert transe.user_embeddings is not None and transe.user_embeddings.shape == (train.n_users, 32)
    assert lightgcn.user_embeddings is not None and lightgcn.user_embeddings.shape == (train.n_users, 32)


@pytest.mark.parametrize("name", ["popularity", "cf_pearson", "lightgcn"])
def test_beats_random_on_planted_communities(name: str, world: tuple[Split, TrainData]) -> None:
    split, train = world
    model = make_baseline(name, seed=0)  # default size
    model.fit(train)
    rnd = RandomBaseline(seed=0)
    ap = np.mean([average_precision(model.score(t), t.labels) for t in split.tasks])
    ap_random = np.mean([average_precision(rnd.score(t), t.labels) for t in split.tasks])
    # observed about 0.25-0.29 vs 0.10-0.12 across toy seeds; the margin is loose on purpose
    assert ap > ap_random + 0.05


@pytest.mark.parametrize("name", ["lr", "transe"])
def test_lr_and_transe_work_without_categories(name: str, world: tuple[Split, TrainData]) -> None:
    split, train = world
    bare = TrainData(interactions=train.interactions)
    assert bare.category_matrix().shape == (train.n_items, 0)
    model = small(name, seed=0)
    model.fit(bare)
    scores = model.score(split.tasks[0])
    assert scores.shape == split.tasks[0].candidates.shape and np.isfinite(scores).all()


def test_pearson_cf_with_ratings(world: tuple[Split, TrainData]) -> None:
    split, train = world
    with pytest.raises(ValueError, match="ratings"):
        PearsonCFBaseline(use_ratings=True).fit(train)
    stars = train.interactions.copy()
    stars.data = np.random.default_rng(0).integers(1, 6, stars.nnz).astype(float)
    cf = PearsonCFBaseline(use_ratings=True)
    cf.fit(replace(train, ratings=stars))
    task = split.tasks[2]
    x = np.delete(stars.toarray(), task.item, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(x[task.candidates], x[task.seeds])[: task.candidates.size, task.candidates.size :]
    assert np.allclose(cf.score(task), np.nan_to_num(corr).mean(axis=1))


# -- GraphSAGE, Pinterest two-stage, MetaHeac (issue 12) ----------------------------------------


def _mean_ap_and_rate(model: Baseline, split: Split) -> tuple[float, float]:
    ap = float(np.mean([average_precision(model.score(t), t.labels) for t in split.tasks]))
    return ap, float(np.mean([t.labels.mean() for t in split.tasks]))


@pytest.mark.parametrize(
    "model",
    [
        GraphSAGEBaseline(seed=0),
        PinterestBaseline(seed=0),
        PinterestBaseline(lsh_weight=1.0, seed=0),  # LSH seed density alone
        PinterestBaseline(lsh_weight=0.0, seed=0),  # per-seed-list classifier alone
        MetaHeacBaseline(steps=100, seed=0),
    ],
    ids=["graphsage", "pinterest", "pinterest-lsh", "pinterest-classifier", "metaheac"],
)
def test_new_baselines_find_lookalikes_on_planted_communities(
    model: Baseline, world: tuple[Split, TrainData]
) -> None:
    split, train = world
    model.fit(train)
    ap, rate = _mean_ap_and_rate(model, split)
    # positive rate ≈ 0.091 (1:10 negatives). Observed AP on toy worlds 0/1/2: graphsage 0.25/0.23/0.21,
    # pinterest 0.27/0.23/0.24, LSH alone 0.19/0.18/0.18, classifier alone 0.29/0.25/0.26, metaheac
    # (100 steps) 0.35/0.34/0.31; the margin is loose on purpose
    assert ap > rate + 0.06, (ap, rate)


def test_make_baseline_builds_the_new_models() -> None:
    assert isinstance(make_baseline("graphsage"), GraphSAGEBaseline)
    assert isinstance(make_baseline("pinterest"), PinterestBaseline)
    assert isinstance(make_baseline("metaheac", seed=3), MetaHeacBaseline)
    assert {"graphsage", "pinterest", "metaheac"} <= set(BASELINE_NAMES)
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("metaheac2")


def test_graphsage_embeddings_depend_on_the_seed(
    world: tuple[Split, TrainData], fitted: dict[str, Baseline]
) -> None:
    split, train = world
    sage = fitted["graphsage"]
    assert isinstance(sage, GraphSAGEBaseline)
    assert sage.user_embeddings is not None and sage.user_embeddings.shape == (train.n_users, 32)
    other = GraphSAGEBaseline(epochs=5, seed=1)
    other.fit(train)
    assert not np.allclose(other.score(split.tasks[0]), sage.score(split.tasks[0]))


def test_seed_list_negatives_prefer_users_outside_the_task(world: tuple[Split, TrainData]) -> None:
    split, train = world
    task = split.tasks[0]
    neg = seed_list_negatives(task, train.n_users, 30, np.random.default_rng(0))
    assert neg.size == 30 and np.unique(neg).size == 30
    assert not np.isin(neg, task.seeds).any() and not np.isin(neg, task.candidates).any()
    # more than the outside pool: the rest comes from the candidates, never from the seeds
    outside = train.n_users - task.seeds.size - task.candidates.size
    many = seed_list_negatives(task, train.n_users, outside + 5, np.random.default_rng(0))
    assert many.size == outside + 5 and np.isin(many, task.candidates).sum() == 5
    assert not np.isin(many, task.seeds).any()


def test_pinterest_folds_the_task_item_out(
    world: tuple[Split, TrainData], fitted: dict[str, Baseline]
) -> None:
    # stage 2 must embed every user as if the task item's column were empty: seeds hold that edge and
    # candidates never do, so keeping it would only tell the seeds apart from everybody else
    split, _ = world
    pin = fitted["pinterest"]
    assert isinstance(pin, PinterestBaseline)
    assert pin.normalised is not None and pin.item_factors is not None and pin.user_embeddings is not None
    task = split.tasks[0]
    xn = pin.normalised.toarray()
    assert np.allclose(xn @ pin.item_factors, pin.user_embeddings)
    xn[:, task.item] = 0.0
    folded = xn @ pin.item_factors
    unit = folded / np.linalg.norm(folded, axis=1, keepdims=True).clip(1e-12)
    assert np.allclose(pin.task_embeddings(task.item), unit)
    assert not np.allclose(pin.task_embeddings(task.item)[task.seeds], unit[task.seeds] * 0)


def test_metaheac_bag_leaves_the_campaign_item_out(
    world: tuple[Split, TrainData], fitted: dict[str, Baseline]
) -> None:
    split, train = world
    mh = fitted["metaheac"]
    assert isinstance(mh, MetaHeacBaseline) and mh.net is not None and mh.graph is not None
    task = split.tasks[0]
    users = torch.as_tensor(np.r_[task.seeds[:5], task.candidates[:5]])
    with torch.no_grad():
        got = mh.net.bag(mh.graph, mh.net.item_sums(mh.graph), users, task.item).numpy()
        items = mh.net.item.numpy()
    x = train.interactions.toarray()
    for row, u in zip(got, users.tolist(), strict=True):
        mine = np.delete(np.flatnonzero(x[u]), np.flatnonzero(np.flatnonzero(x[u]) == task.item))
        expected = items[mine].mean(axis=0) if mine.size else np.zeros(items.shape[1])
        assert np.allclose(row, expected, atol=1e-5)
    assert _Graph(train).buyers[task.item].tolist() == np.flatnonzero(x[:, task.item]).tolist()


def test_metaheac_tasks_are_independent(world: tuple[Split, TrainData], fitted: dict[str, Baseline]) -> None:
    # score-time fine-tuning adapts copies of the critics; scoring another task in between changes nothing
    split, _ = world
    mh = fitted["metaheac"]
    first = mh.score(split.tasks[0])
    mh.score(split.tasks[1])
    assert np.array_equal(mh.score(split.tasks[0]), first)


def test_mokg_eval_runs_every_baseline_by_default() -> None:
    from mokg.apps.cli.evaluate import eval_cmd

    (default,) = [p.default for p in eval_cmd.params if p.name == "baselines"]
    assert tuple(str(default).split(",")) == BASELINE_NAMES
