"""Unit tests for GLoM triples (mokg.glom.triples) and the pre-trained model (§3.5)."""

from __future__ import annotations

import math

import pytest
import torch

from mokg.glom.pretrain import (
    EntityGroups,
    PretrainedModel,
    RowAdam,
    corrupt,
    degree_weights,
    epoch_batch_size,
    margin_ranking_loss,
    sample_same_group,
    shared_corruptions,
    train_pretrained,
    translation_distance,
)
from mokg.glom.triples import KGTriples, build_triples

torch.set_num_threads(1)


def hand_model(p_norm: int = 1, use_profiles: bool = True) -> PretrainedModel:
    """Entities: 0 user, 1 item (both with profiles), 2 category (none); 2 relations; dim 2; W_p = I."""
    profile = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    has_profile = torch.tensor([True, True, False])
    model = PretrainedModel(
        3,
        2,
        2,
        profile=profile,
        has_profile=has_profile,
        p_norm=p_norm,
        use_profiles=use_profiles,
        max_norm=None,
    )
    with torch.no_grad():
        model.entity.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        model.relation.weight.copy_(torch.tensor([[0.0, 0.5], [1.0, 0.0]]))
        if model.profile_proj is not None:
            model.profile_proj.weight.copy_(torch.eye(2))
            model.profile_proj.bias.zero_()
    return model


def tiny_graph(seed: int = 0, with_profiles: bool = True) -> KGTriples:
    """12 users, 8 items, 2 categories; users like items of their own half, items belong to a category."""
    g = torch.Generator().manual_seed(seed)
    entities = [(f"u{i}", "user") for i in range(12)] + [(f"i{j}", "item") for j in range(8)]
    entities += [("c0", "category"), ("c1", "category")]
    triples = [(f"i{j}", "IN_CATEGORY", f"c{j // 4}") for j in range(8)]
    for i in range(12):
        for j in torch.randint(0, 4, (3,), generator=g).tolist():
            triples.append((f"u{i}", "LIKES", f"i{j + 4 * (i % 2)}"))
    profiles = None
    if with_profiles:
        profiles = {eid: torch.randn(6, generator=g) for eid, t in entities if t in ("user", "item")}
    return build_triples(entities, triples, profiles=profiles)


def test_translation_distance_l1_l2() -> None:
    h, r, t = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0])
    assert translation_distance(h, r, t, 1).item() == pytest.approx(2.0)
    assert translation_distance(h, r, t, 2).item() == pytest.approx(math.sqrt(2.0))


def test_four_energies_hand_case_both_ends_with_profiles() -> None:
    terms = hand_model().energy_terms(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    # u_i+r-v_i = [1, -.5]; u_p+r-v_p = [-2, .5]; u_p+r-v_i = [0, -.5]; u_i+r-v_p = [-1, .5]
    assert terms.interaction.item() == pytest.approx(1.5)
    assert terms.profile_profile.item() == pytest.approx(2.5)
    assert terms.profile_interaction.item() == pytest.approx(0.5)
    assert terms.interaction_profile.item() == pytest.approx(1.5)
    assert terms.total.item() == pytest.approx(6.0)
    assert terms.count.item() == 4


def test_energy_l2_norm() -> None:
    terms = hand_model(p_norm=2).energy_terms(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    assert terms.interaction.item() == pytest.approx(math.sqrt(1.25))
    assert terms.profile_profile.item() == pytest.approx(math.sqrt(4.25))


def test_energy_only_terms_whose_ends_exist() -> None:
    model = hand_model()
    # (user, r1, category): tail has no profile -> F_I + F_GI only.
    t = model.energy_terms(torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    assert (t.interaction.item(), t.profile_interaction.item()) == pytest.approx((2.0, 1.0))
    assert t.profile_profile.item() == 0.0 and t.interaction_profile.item() == 0.0
    # (category, r1, item): head has no profile -> F_I + F_IG only.
    t = model.energy_terms(torch.tensor([2]), torch.tensor([1]), torch.tensor([1]))
    assert (t.interaction.item(), t.interaction_profile.item()) == pytest.approx((2.0, 1.0))
    assert t.profile_profile.item() == 0.0 and t.profile_interaction.item() == 0.0
    assert model.energy(torch.tensor([2]), torch.tensor([1]), torch.tensor([1])).item() == pytest.approx(3.0)
    assert t.count.item() == 2
    assert model.energy_terms(torch.tensor([2]), torch.tensor([1]), torch.tensor([2])).count.item() == 1


def test_without_profiles_energy_is_interaction_only() -> None:
    model = hand_model(use_profiles=False)
    assert model.profile_proj is None and model.profile_embeddings() is None
    assert model.energy_terms(torch.tensor([0]), torch.tensor([0]), torch.tensor([1])).count.item() == 1
    e = model.energy(torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([1, 2]))
    assert e.tolist() == pytest.approx([1.5, 2.0])


def test_entity_embeddings_average_profile_where_present() -> None:
    e = hand_model().entity_embeddings()
    # entity 0: ([1,0] + [0,0]) / 2; entity 1: ([0,1] + [2,0]) / 2; entity 2 has no profile.
    assert torch.allclose(e, torch.tensor([[0.5, 0.0], [1.0, 0.5], [1.0, 1.0]]))


def test_max_norm_caps_profile_and_interaction_embeddings() -> None:
    model = hand_model()
    model.max_norm = 1.0
    p = model.profile_embeddings()
    assert p is not None
    assert torch.allclose(p[1], torch.tensor([1.0, 0.0]))  # [2, 0] rescaled onto the unit ball
    assert torch.allclose(p[0], torch.zeros(2))  # inside the ball: unchanged
    model.renormalize_()
    assert torch.allclose(model.entity.weight[2], torch.tensor([1.0, 1.0]) / 2**0.5)
    assert torch.allclose(model.entity.weight[0], torch.tensor([1.0, 0.0]))


def test_margin_ranking_loss_hand_case() -> None:
    pos = torch.tensor([1.0, 3.0])
    neg = torch.tensor([[2.0, 0.5], [5.0, 3.0]])
    # [1+1-2]+=0, [1+1-0.5]+=1.5, [1+3-5]+=0, [1+3-3]+=1 -> mean 2.5/4
    assert margin_ranking_loss(pos, neg, 1.0).item() == pytest.approx(0.625)
    assert margin_ranking_loss(pos, neg[:, 0], 1.0).item() == pytest.approx(0.0)
    assert margin_ranking_loss(pos, neg[:, 1], 2.0).item() == pytest.approx((2.5 + 2.0) / 2)
    # per-positive margins [4, 1]: [4+1-2, 4+1-.5, 1+3-5, 1+3-3] -> (3 + 4.5 + 0 + 1) / 4
    assert margin_ranking_loss(pos, neg, torch.tensor([4.0, 1.0])).item() == pytest.approx(8.5 / 4)


def test_self_adversarial_weights_favour_the_hardest_negative() -> None:
    pos = torch.tensor([1.0])
    neg = torch.tensor([[2.0, 0.5]])  # hinge terms [0, 1.5]
    w_hard = math.exp(-0.5) / (math.exp(-2.0) + math.exp(-0.5))
    assert margin_ranking_loss(pos, neg, 1.0, adversarial=1.0).item() == pytest.approx(1.5 * w_hard)
    # temperature 0 is the plain mean; a high temperature tends to the hardest negative alone
    assert margin_ranking_loss(pos, neg, 1.0, adversarial=0.0).item() == pytest.approx(0.75)
    assert margin_ranking_loss(pos, neg, 1.0, adversarial=50.0).item() == pytest.approx(1.5)
    pos_r = pos.clone().requires_grad_()
    margin_ranking_loss(pos_r, neg.requires_grad_(), 1.0, adversarial=1.0).backward()
    assert neg.grad is not None and neg.grad[0, 1].item() == pytest.approx(-w_hard)  # weights are detached


def test_row_adam_matches_sparse_adam() -> None:
    torch.manual_seed(0)
    a = torch.nn.Embedding(10, 4, sparse=True)
    b = torch.nn.Embedding(10, 4, sparse=True)
    b.weight.data.copy_(a.weight.data)
    ours, theirs = RowAdam(a.weight, lr=0.1), torch.optim.SparseAdam(b.parameters(), lr=0.1)
    for rows in ([0, 3, 3, 7], [3, 9], [0, 1, 2]):
        idx = torch.tensor(rows)
        for emb in (a, b):
            (emb(idx) ** 2).sum().backward()
        touched = ours.step()
        theirs.step()
        theirs.zero_grad()
        assert touched.tolist() == sorted(set(rows))
        assert torch.allclose(a.weight, b.weight, atol=1e-6)
    assert a.weight.grad is None


def test_sparse_training_learns_and_keeps_the_norm_bound() -> None:
    kg = tiny_graph()
    res = train_pretrained(kg, dim=8, epochs=30, lr=0.05, batch_size=16, sparse=True)
    assert sum(res.loss_history[-5:]) < 0.7 * sum(res.loss_history[:5])
    assert float(res.interaction_embeddings.norm(dim=1).max()) <= 1.0 + 1e-5
    kw = {"dim": 8, "epochs": 3, "batch_size": 16, "num_negatives": 4, "adversarial": 2.0, "sparse": True}
    a, b = train_pretrained(kg, **kw), train_pretrained(kg, **kw)  # type: ignore[arg-type]
    assert torch.equal(a.entity_embeddings, b.entity_embeddings)


def test_training_on_shared_negatives_learns_and_is_reproducible() -> None:
    kg = tiny_graph()
    kw = {"dim": 8, "epochs": 30, "lr": 0.05, "batch_size": 16, "num_negatives": 8}
    res = train_pretrained(kg, shared_negatives=True, sparse=True, **kw)  # type: ignore[arg-type]
    assert sum(res.loss_history[-5:]) < 0.7 * sum(res.loss_history[:5])
    again = train_pretrained(kg, shared_negatives=True, sparse=True, **kw)  # type: ignore[arg-type]
    assert torch.equal(res.entity_embeddings, again.entity_embeddings)


def test_sample_same_group_stays_in_group_and_covers_it() -> None:
    group = torch.tensor([0, 1, 0, 2, 1, 0])
    gen = torch.Generator().manual_seed(0)
    src = torch.tensor([0, 1, 3]).repeat(200)
    out = sample_same_group(src, EntityGroups(group), gen)
    assert torch.equal(group[out], group[src])
    assert set(out[src == 0].tolist()) == {0, 2, 5}
    assert set(out[src == 1].tolist()) == {1, 4}
    assert set(out[src == 3].tolist()) == {3}


def test_weighted_draws_stay_in_group_and_follow_the_weights() -> None:
    # group 0: entities 0, 2, 5 weighted 1, 3, 6; group 1: 1 and 4 weighted 1 and 1; group 2: 3 alone
    group = torch.tensor([0, 1, 0, 2, 1, 0])
    weight = torch.tensor([1.0, 1.0, 3.0, 5.0, 1.0, 6.0])
    groups = EntityGroups(group, weight)
    src = torch.tensor([0, 1, 3]).repeat(20_000)
    out = sample_same_group(src, groups, torch.Generator().manual_seed(0))
    assert torch.equal(group[out], group[src])
    share = torch.bincount(out[src == 0], minlength=6).double() / 20_000
    assert share[[0, 2, 5]].tolist() == pytest.approx([0.1, 0.3, 0.6], abs=0.015)
    assert torch.bincount(out[src == 1], minlength=6)[[1, 4]].double().div(20_000).tolist() == pytest.approx(
        [0.5, 0.5], abs=0.015
    )
    assert set(out[src == 3].tolist()) == {3}
    # any shape in, the same shape out
    assert groups.draw(torch.zeros(4, 3, dtype=torch.long), torch.Generator().manual_seed(1)).shape == (4, 3)


def test_degree_weights_count_both_ends_and_power_zero_keeps_uniform_draws() -> None:
    kg = tiny_graph()
    degree = torch.bincount(torch.cat([kg.head, kg.tail]), minlength=kg.num_entities).double()
    assert degree_weights(kg, 0.0) is None
    weights = degree_weights(kg, 1.0)
    assert weights is not None and torch.equal(weights, degree + 1)
    # power 0 (the default) gives no weights, so the draw takes the uniform branch; power 1 changes the PM
    kw = {"dim": 8, "epochs": 2, "num_negatives": 2, "seed": 4}
    uniform = train_pretrained(kg, **kw)  # type: ignore[arg-type]
    explicit = train_pretrained(kg, negative_power=0.0, **kw)  # type: ignore[arg-type]
    assert torch.equal(uniform.entity_embeddings, explicit.entity_embeddings)
    weighted = train_pretrained(kg, negative_power=1.0, **kw)  # type: ignore[arg-type]
    assert not torch.equal(uniform.entity_embeddings, weighted.entity_embeddings)
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="negative_power"):
            train_pretrained(kg, epochs=1, negative_power=bad)


def test_corrupt_changes_one_end_within_type() -> None:
    kg = tiny_graph()
    group = kg.entity_type * 2 + kg.profile_mask().long()
    nh, nt = corrupt(kg.head, kg.tail, EntityGroups(group), torch.Generator().manual_seed(1))
    assert bool(((nh == kg.head) | (nt == kg.tail)).all())
    assert torch.equal(kg.entity_type[nh], kg.entity_type[kg.head])
    assert torch.equal(kg.entity_type[nt], kg.entity_type[kg.tail])
    assert bool((nh != kg.head).any()) and bool((nt != kg.tail).any())


@pytest.mark.parametrize("head_share", [0.0, 0.7, 1.0])
def test_corrupt_replaces_the_head_at_the_share_asked(head_share: float) -> None:
    # heads 0..999 (one group), tails 1000..1999 (another), 4,000 triples: a corruption that draws the very
    # entity it replaces is rare (1 in 1,000), so the tail is kept about exactly where the head was drawn
    head, tail = torch.arange(0, 1000).repeat(4), torch.arange(1000, 2000).repeat(4)
    group = EntityGroups(torch.cat([torch.zeros(1000), torch.ones(1000)]).long())
    nh, nt = corrupt(head, tail, group, torch.Generator().manual_seed(3), head_share)
    kept_tail = nt == tail
    assert bool((kept_tail | (nh == head)).all())  # one end at most
    drawn_head = kept_tail.float().mean().item()
    assert drawn_head == pytest.approx(head_share, abs=0.03)


def test_the_configured_head_share_reaches_the_corruptions(monkeypatch: pytest.MonkeyPatch) -> None:
    from mokg.glom import pretrain
    from mokg.glom.data import LARGE_GRAPH_PM, TrainConfig
    from mokg.glom.fitting import fit_pm
    from mokg.glom.inductive import stored_config

    shares: list[float] = []
    real = pretrain.corrupt

    def spy(*args: object, **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
        shares.append(float(args[4] if len(args) > 4 else kwargs.get("head_share", 0.5)))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pretrain, "corrupt", spy)
    fit_pm(tiny_graph(), TrainConfig(pm_head_corruption=0.9, pm_epochs=1, dim=8))
    assert shares and set(shares) == {0.9}
    # a large graph's PM (batch negatives: half and half) says so; an old model reads back as trained at 0.5
    assert LARGE_GRAPH_PM["pm_head_corruption"] == 0.5
    assert TrainConfig(pm_large_graph_triples=1).sized_for(10).pm_head_corruption == 0.5
    assert stored_config({"dim": 8})["pm_head_corruption"] == 0.5
    assert stored_config({"pm_head_corruption": 0.7})["pm_head_corruption"] == 0.7
    with pytest.raises(ValueError, match="head_corruption"):
        train_pretrained(tiny_graph(), epochs=1, head_corruption=1.5)


def test_the_configured_negative_power_reaches_the_corruptions(monkeypatch: pytest.MonkeyPatch) -> None:
    from mokg.glom import pretrain
    from mokg.glom.data import TrainConfig
    from mokg.glom.fitting import fit_pm

    powers: list[float] = []
    real = pretrain.degree_weights

    def spy(triples: KGTriples, power: float) -> torch.Tensor | None:
        powers.append(power)
        return real(triples, power)

    monkeypatch.setattr(pretrain, "degree_weights", spy)
    fit_pm(tiny_graph(), TrainConfig(pm_epochs=1, dim=8))
    fit_pm(tiny_graph(), TrainConfig(pm_negative_power=0.5, pm_epochs=1, dim=8))
    assert powers == [0.0, 0.5]  # uniform unless asked


def test_shared_corruptions_chunk_by_group_and_draw_each_pool_from_it() -> None:
    kg = tiny_graph()
    group = kg.entity_type * 2 + kg.profile_mask().long()
    neg = shared_corruptions(kg.head, kg.tail, EntityGroups(group), 16, 5, torch.Generator().manual_seed(3))
    corrupted = torch.cat([kg.head, kg.tail])  # head requests, then tail requests
    assert bool((group[neg.pools[neg.chunk]] == group[corrupted].unsqueeze(-1)).all())
    places = neg.chunk * 5 + neg.slot
    assert len(places.unique()) == len(places) and int(neg.slot.max()) < 5  # one place per request
    groups = group[corrupted]
    assert len(neg.pools) == sum(-(-int((groups == g).sum()) // 5) for g in groups.unique())


@pytest.mark.parametrize("use_profiles", [True, False])
def test_shared_negative_energies_equal_each_corruption_scored_alone(use_profiles: bool) -> None:
    # users and items with and without profiles, categories without: every term and mask combination
    kg = tiny_graph()
    assert kg.has_profile is not None
    kg.has_profile[[0, 3, 14]] = False
    model = PretrainedModel(
        kg.num_entities,
        kg.num_relations,
        5,
        profile=kg.profile,
        has_profile=kg.has_profile,
        use_profiles=use_profiles,
    )
    group = kg.entity_type * 2 + model.has_profile.long()
    neg = shared_corruptions(kg.head, kg.tail, EntityGroups(group), 3, 4, torch.Generator().manual_seed(2))
    terms, energies = model.shared_negative_energies(kg.head, kg.rel, kg.tail, neg)
    assert energies.shape == (kg.num_triples, 6)
    assert torch.allclose(terms.total, model.energy(kg.head, kg.rel, kg.tail))
    n = kg.num_triples
    for m in range(3):
        heads = neg.pools[neg.chunk[:n], m]
        assert torch.allclose(energies[:, m], model.energy(heads, kg.rel, kg.tail), atol=1e-5)
        tails = neg.pools[neg.chunk[n:], m]
        assert torch.allclose(energies[:, 3 + m], model.energy(kg.head, kg.rel, tails), atol=1e-5)


def test_build_triples_dedups_and_indexes() -> None:
    kg = build_triples(
        [("u1", "user"), ("i1", "item"), ("u1", "user"), ("c", "category")],
        [("u1", "LIKES", "i1"), ("u1", "LIKES", "i1"), ("i1", "IN_CATEGORY", "c"), ("u1", "VIEWED", "i1")],
        profiles={"u1": [1.0, 2.0], "i1": [3.0, 4.0]},
    )
    assert kg.num_entities == 3 and list(kg.entity_ids or []) == ["u1", "i1", "c"]
    assert kg.entity_type.tolist() == [0, 1, 2]
    assert kg.num_triples == 3
    assert kg.relation_names[-1] == "VIEWED"
    assert [kg.relation_names[r] for r in kg.rel.tolist()] == ["LIKES", "IN_CATEGORY", "VIEWED"]
    assert kg.head.tolist() == [0, 1, 0] and kg.tail.tolist() == [1, 2, 1]
    assert kg.has_profile is not None and kg.has_profile.tolist() == [True, True, False]
    assert kg.profile is not None and kg.profile.tolist() == [[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]
    assert kg.entities_of_type("item").tolist() == [1]


def test_build_triples_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="two types"):
        build_triples([("a", "user"), ("a", "item")], [])
    with pytest.raises(ValueError, match="unknown entity"):
        build_triples([("a", "user")], [("a", "LIKES", "b")])
    with pytest.raises(ValueError, match="unknown relation"):
        build_triples([("a", "user")], [("a", "X", "a")], relation_names=["LIKES"])


def test_training_reduces_loss() -> None:
    seen: list[tuple[int, float]] = []
    res = train_pretrained(
        tiny_graph(),
        dim=8,
        epochs=30,
        lr=0.05,
        batch_size=16,
        num_negatives=2,
        progress=lambda e, v: seen.append((e, v)),
    )
    assert [e for e, _ in seen] == list(range(1, 31))
    assert res.loss_history == [v for _, v in seen]
    assert sum(res.loss_history[-5:]) / 5 < 0.6 * sum(res.loss_history[:5]) / 5
    assert res.entity_embeddings.shape == (22, 8) and res.relation_embeddings.shape[1] == 8
    assert res.use_profiles and res.profile_embeddings is not None
    assert float(res.interaction_embeddings.norm(dim=1).max()) <= 1.0 + 1e-5
    assert float(res.profile_embeddings.norm(dim=1).max()) <= 1.0 + 1e-5


def test_same_seed_identical_embeddings() -> None:
    kg = tiny_graph()
    a = train_pretrained(kg, dim=8, epochs=3, batch_size=16, seed=7)
    b = train_pretrained(kg, dim=8, epochs=3, batch_size=16, seed=7)
    c = train_pretrained(kg, dim=8, epochs=3, batch_size=16, seed=8)
    assert torch.equal(a.entity_embeddings, b.entity_embeddings)
    assert torch.equal(a.relation_embeddings, b.relation_embeddings)
    assert a.loss_history == b.loss_history
    assert not torch.equal(a.entity_embeddings, c.entity_embeddings)


def test_without_profiles_ablation() -> None:
    res = train_pretrained(tiny_graph(), dim=4, epochs=2, batch_size=16, use_profiles=False)
    assert not res.use_profiles and res.profile_embeddings is None
    assert torch.equal(res.entity_embeddings, res.interaction_embeddings)
    res = train_pretrained(tiny_graph(with_profiles=False), dim=4, epochs=2, batch_size=16)
    assert not res.use_profiles and not bool(res.has_profile.any())


def test_epoch_batch_size_caps_steps_per_epoch() -> None:
    assert epoch_batch_size(20_000, 1024, 256) == 1024  # small graphs keep the given size
    assert epoch_batch_size(2_600_000, 1024, 256) == 10_157  # ceil(2.6M / 256)
    assert math.ceil(2_600_000 / epoch_batch_size(2_600_000, 1024, 256)) <= 256
    assert epoch_batch_size(2_600_000, 1024, None) == 1024
