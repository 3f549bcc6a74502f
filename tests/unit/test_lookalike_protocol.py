"""Lookalike evaluation protocol: task construction, seeding, and that no held-out edge leaks into training."""

from __future__ import annotations

import numpy as np
import pytest

from mokg.lookalike.baselines import TrainData
from mokg.lookalike.protocol import (
    Split,
    build_split,
    evaluate,
    inner_split,
    task_folds,
    training_interactions,
    training_mask,
)

N_USERS, N_ITEMS = 300, 25
Pairs = tuple[np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def interactions() -> Pairs:
    """Item j is bought by about 4·j users (so some items fall below min_buyers), with duplicate rows."""
    rng = np.random.default_rng(11)
    users, items = [], []
    for j in range(N_ITEMS):
        buyers = rng.choice(N_USERS, size=min(4 * j + 1, N_USERS // 3), replace=False)
        users.append(buyers)
        items.append(np.full(buyers.size, j))
    u, i = np.concatenate(users), np.concatenate(items)
    dup = rng.choice(u.size, 40, replace=False)  # repeated purchases must count once
    return np.r_[u, u[dup]], np.r_[i, i[dup]]


@pytest.fixture(scope="module")
def split(interactions: Pairs) -> Split:
    u, i = interactions
    return build_split(u, i, n_users=N_USERS, n_items=N_ITEMS, min_buyers=20, seed=3)


def buyers_of(interactions: Pairs, item: int) -> np.ndarray:
    u, i = interactions
    return np.unique(u[i == item])


def test_tasks_are_the_items_with_enough_buyers(interactions: Pairs, split: Split) -> None:
    counts = np.array([buyers_of(interactions, j).size for j in range(N_ITEMS)])
    assert sorted(t.item for t in split.tasks) == np.flatnonzero(counts >= 20).tolist()
    assert 0 < len(split.tasks) < N_ITEMS  # the fixture has items on both sides of the cut


def test_each_task_partitions_buyers_and_samples_true_negatives(interactions: Pairs, split: Split) -> None:
    for t in split.tasks:
        buyers = buyers_of(interactions, t.item)
        assert np.intersect1d(t.seeds, t.positives).size == 0
        assert np.array_equal(np.union1d(t.seeds, t.positives), buyers)
        assert t.seeds.size == round(0.5 * buyers.size)
        assert np.intersect1d(t.negatives, buyers).size == 0
        assert np.unique(t.negatives).size == t.negatives.size
        assert t.negatives.size == min(10 * t.positives.size, N_USERS - buyers.size)
        assert np.array_equal(np.sort(t.candidates), np.sort(np.r_[t.positives, t.negatives]))
        assert np.array_equal(np.sort(t.candidates[t.labels]), t.positives)
        assert np.intersect1d(t.candidates, t.seeds).size == 0


def test_candidates_are_shuffled(split: Split) -> None:
    # positives must not sit first: a stable sort on tied scores would otherwise favour them
    assert any(not t.labels[: t.positives.size].all() for t in split.tasks)


def test_negative_ratio_parameter(interactions: Pairs) -> None:
    u, i = interactions
    s = build_split(u, i, n_users=N_USERS, n_items=N_ITEMS, min_buyers=20, neg_ratio=2, seed=0)
    assert all(t.negatives.size == 2 * t.positives.size for t in s.tasks)


def test_fixed_seed_count_for_the_seed_size_curve(interactions: Pairs) -> None:
    u, i = interactions
    s = build_split(u, i, n_users=N_USERS, n_items=N_ITEMS, min_buyers=20, n_seeds=5, seed=0)
    for t in s.tasks:
        assert t.seeds.size == 5
        assert t.positives.size == buyers_of(interactions, t.item).size - 5
    with pytest.raises(ValueError, match="n_seeds"):
        build_split(u, i, min_buyers=20, n_seeds=20)


def test_validation_and_test_tasks_partition_the_tasks(split: Split) -> None:
    val = {t.item for t in split.validation}
    test = {t.item for t in split.test}
    assert val and test and not val & test
    assert len(val) == round(0.2 * len(split.tasks))


def test_same_seed_same_split_other_seed_other_split(interactions: Pairs, split: Split) -> None:
    u, i = interactions
    again = build_split(u, i, n_users=N_USERS, n_items=N_ITEMS, min_buyers=20, seed=3)
    other = build_split(u, i, n_users=N_USERS, n_items=N_ITEMS, min_buyers=20, seed=4)
    assert np.array_equal(again.heldout, split.heldout)
    for a, b in zip(again.tasks, split.tasks, strict=True):
        assert a.item == b.item
        assert np.array_equal(a.seeds, b.seeds) and np.array_equal(a.candidates, b.candidates)
        assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(other.heldout, split.heldout)


def test_a_tasks_split_does_not_depend_on_the_other_tasks(interactions: Pairs, split: Split) -> None:
    u, i = interactions
    wider = build_split(u, i, n_users=N_USERS, n_items=N_ITEMS, min_buyers=10, seed=3)
    by_item = {t.item: t for t in wider.tasks}
    assert len(by_item) > len(split.tasks)
    for t in split.tasks:
        assert np.array_equal(by_item[t.item].seeds, t.seeds)
        assert np.array_equal(by_item[t.item].candidates, t.candidates)


def test_heldout_edges_are_exactly_the_positives(split: Split) -> None:
    expected = {(int(u), t.item) for t in split.tasks for u in t.positives}
    assert {(int(u), int(i)) for u, i in split.heldout} == expected
    assert len(split.heldout) == len(expected)


def test_no_heldout_edge_survives_in_training(interactions: Pairs, split: Split) -> None:
    u, i = interactions
    tu, ti = training_interactions(split, u, i)
    kept = set(zip(tu.tolist(), ti.tolist(), strict=True))
    for t in split.tasks:
        # every held-out buyer's edge to the task item is gone ...
        assert not any((int(p), t.item) in kept for p in t.positives)
        # ... and every seed keeps its edge to it: seeds are known buyers
        assert all((int(s), t.item) in kept for s in t.seeds)
    # nothing else was removed (duplicates of a kept pair stay, duplicates of a held-out pair go)
    held = {(int(a), int(b)) for a, b in split.heldout}
    assert tu.size == sum((a, b) not in held for a, b in zip(u.tolist(), i.tolist(), strict=True))
    mask = training_mask(split, u, i)
    assert np.array_equal(u[mask], tu) and np.array_equal(i[mask], ti)


def test_train_data_from_split_has_no_heldout_edge(interactions: Pairs, split: Split) -> None:
    u, i = interactions
    ratings = np.linspace(1, 5, u.size)
    train = TrainData.from_split(split, u, i, ratings=ratings)
    x = train.interactions.toarray()
    r = train.ratings.toarray() if train.ratings is not None else None
    assert r is not None
    for t in split.tasks:
        assert (x[t.positives, t.item] == 0).all() and (r[t.positives, t.item] == 0).all()
        assert (x[t.seeds, t.item] == 1).all() and (r[t.seeds, t.item] > 0).all()
    assert x.sum() == len({(a, b) for a, b in zip(u.tolist(), i.tolist(), strict=True)}) - len(split.heldout)


def test_evaluate_with_an_oracle_and_a_constant_scorer(split: Split) -> None:
    oracle = evaluate(split, lambda t: t.labels.astype(float))
    assert oracle.threshold is not None and oracle.threshold.threshold == 1.0
    assert len(oracle.test) == len(split.test)
    means = oracle.mean()
    assert means["average_precision"] == 1.0 and means["precision_at_k"] == 1.0
    assert means["precision_at_t"] == 1.0 and means["recall_at_t"] == 1.0
    flat = evaluate(split, lambda t: np.zeros(t.candidates.size)).mean()
    base = np.mean([t.labels.mean() for t in split.test])
    assert flat["average_precision"] == pytest.approx(base)
    assert flat["precision_at_k"] == pytest.approx(base)


def test_bad_parameters(interactions: Pairs) -> None:
    u, i = interactions
    with pytest.raises(ValueError, match="min_buyers"):
        build_split(u, i, min_buyers=10_000)
    with pytest.raises(ValueError, match="seed_fraction"):
        build_split(u, i, seed_fraction=1.0)
    with pytest.raises(ValueError, match="exceed"):
        build_split(u, i, n_users=5)
    with pytest.raises(ValueError, match="entries"):
        build_split(u, i[:-1])


def test_task_folds_score_every_task_once_and_hold_out_only_their_own_edges(split: Split) -> None:
    for k in (1, 3, 5, 1000):
        folds = task_folds(split, k, seed=4)
        assert len(folds) == min(k, len(split.tasks))
        dealt = [t.item for f in folds for t in f.validation]
        assert sorted(dealt) == sorted(t.item for t in split.tasks)  # a partition: each task exactly once
        assert all(f.validation and not f.test for f in folds)
        assert max(len(f.validation) for f in folds) - min(len(f.validation) for f in folds) <= 1
        for f in folds:
            own = {(int(u), t.item) for t in f.validation for u in t.positives}
            assert {(int(u), int(i)) for u, i in f.heldout} == own
        # together they hold out exactly the split's edges
        assert np.array_equal(np.unique(np.concatenate([f.heldout for f in folds]), axis=0), split.heldout)
    # seeded: the same deal again, another seed another deal
    same = [t.item for f in task_folds(split, 3, seed=4) for t in f.validation]
    other = [t.item for f in task_folds(split, 3, seed=5) for t in f.validation]
    assert same == [t.item for f in task_folds(split, 3, seed=4) for t in f.validation] and same != other


def test_inner_tasks_are_built_from_the_training_edges_alone(interactions: Pairs, split: Split) -> None:
    u, i = interactions
    inner, keep = inner_split(
        split, u, i, min_buyers=10, seed_fraction=0.5, neg_ratio=10.0, max_tasks=1000, seed=7
    )
    trained = {(int(a), int(b)) for a, b in zip(u[keep], i[keep], strict=True)}
    held = {(int(a), int(b)) for a, b in split.heldout}
    assert held and not held & trained  # the mask is the training edges
    assert inner.validation and not inner.test
    for t in inner.validation:
        buyers = {(int(x), t.item) for x in np.r_[t.seeds, t.positives]}
        assert buyers <= trained  # every inner buyer is a training edge, so none is held out
    # no outer task (validation or test) is an inner task: its training buyers are its seeds here, which
    # another seed's split holds out as its test positives
    assert not {t.item for t in split.tasks} & {t.item for t in inner.validation}
    assert {t.item for t in inner.validation} == set(range(3, 5))  # 10..19 buyers: 4·j + 1 for j = 3, 4
    # its own held-out edges are its positives, all training edges of the outer split
    assert {(int(a), int(b)) for a, b in inner.heldout} == {
        (int(x), t.item) for t in inner.validation for x in t.positives
    }
    capped, _ = inner_split(
        split, u, i, min_buyers=10, seed_fraction=0.5, neg_ratio=10.0, max_tasks=1, seed=7
    )
    assert len(capped.validation) == 1 < len(inner.validation)
    assert {t.item for t in capped.validation} <= {t.item for t in inner.validation}
    assert {(int(a), int(b)) for a, b in capped.heldout} == {
        (int(x), t.item) for t in capped.validation for x in t.positives
    }
    with pytest.raises(ValueError, match="no inner task"):  # nothing outside the outer tasks is big enough
        inner_split(split, u, i, min_buyers=20, seed_fraction=0.5, neg_ratio=10.0, max_tasks=9, seed=7)


def test_no_inner_task_carries_another_seeds_test_positives(interactions: Pairs) -> None:
    # every seed shares one partition; an inner task built on one split's seeds of a test item would be
    # labelled by buyers that the other split holds out as that item's test positives
    u, i = interactions
    splits = [
        build_split(u, i, n_users=N_USERS, n_items=N_ITEMS, min_buyers=20, seed=s, partition_seed=0)
        for s in (0, 1)
    ]
    test_edges = {(int(x), t.item) for s in splits for t in s.test for x in t.positives}
    for s in splits:
        inner, _ = inner_split(
            s, u, i, min_buyers=10, seed_fraction=0.5, neg_ratio=10.0, max_tasks=99, seed=0
        )
        labels = {(int(x), t.item) for t in inner.validation for x in np.r_[t.seeds, t.positives]}
        assert inner.validation and not labels & test_edges


def test_train_help_states_the_folds_default() -> None:
    from click.testing import CliRunner

    from mokg.apps.cli import main
    from mokg.lookalike.evaluation import CHOOSE_FOLDS

    text = " ".join(CliRunner().invoke(main, ["train", "--help"]).output.split())
    assert f"(default: {CHOOSE_FOLDS}, mokg.lookalike.evaluation.CHOOSE_FOLDS)" in text


def test_served_models_parses_the_choice_list_and_refuses_unknown_names() -> None:
    from mokg.lookalike.evaluation import CHOOSE_MODELS, served_models

    assert served_models(",".join(CHOOSE_MODELS)) == CHOOSE_MODELS
    assert served_models(" lightgcn , glom ") == ("lightgcn", "glom")
    for bad in ("glom,svd", "", " , "):
        with pytest.raises(ValueError, match="expected some of glom,pm,lightgcn"):
            served_models(bad)
    with pytest.raises(ValueError, match="glom given more than once"):  # it would count its AP twice
        served_models("glom,pm,glom")


def test_train_choose_options_need_choose_method_and_state_the_library_default() -> None:
    from click.testing import CliRunner

    from mokg.apps.cli import main
    from mokg.lookalike.evaluation import CHOOSE_MODELS

    text = " ".join(CliRunner().invoke(main, ["train", "--help"]).output.split())
    assert f"[default: {','.join(CHOOSE_MODELS)}]" in text
    for option in (["--choose-models", "pm"], ["--choose-folds", "2"], ["--choose-min-buyers", "5"]):
        result = CliRunner().invoke(main, ["train", *option])
        assert result.exit_code == 2 and f"{option[0]} goes with --choose-method" in result.output
