"""Unit tests for GLoM aggregators (§3.6.1) and the graph learning model (§3.6.2–3.7)."""

from __future__ import annotations

import pytest
import torch

from mokg.glom.aggregators import AGGREGATORS, Aggregator, KnowledgeQueryConv
from mokg.glom.glm import (
    GraphLearningModel,
    glm_loss,
    train_glm,
    user_item_pairs,
    with_reverse_edges,
)
from mokg.glom.pretrain import train_pretrained
from mokg.glom.triples import KGTriples, build_triples

torch.set_num_threads(1)

# Tiny graph: 0->2 (r0), 1->2 (r1), 3->2 (r0), 0->1 (r0); node 0 and 3 have no incoming edges.
EDGE_INDEX = torch.tensor([[0, 1, 3, 0], [2, 2, 2, 1]])
EDGE_TYPE = torch.tensor([0, 1, 0, 0])
H = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 2.0], [-1.0, 1.0]])
REL = torch.tensor([[0.5, 0.5], [-1.0, 0.0]])


def kg_fixture() -> KGTriples:
    """10 users, 6 items, 2 categories, two user halves liking disjoint item halves."""
    entities = [(f"u{i}", "user") for i in range(10)] + [(f"i{j}", "item") for j in range(6)]
    entities += [("c0", "category"), ("c1", "category")]
    triples = [(f"i{j}", "IN_CATEGORY", f"c{j // 3}") for j in range(6)]
    triples += [(f"u{i}", "LIKES", f"i{(i + k) % 3 + 3 * (i % 2)}") for i in range(10) for k in range(2)]
    triples += [("u0", "SIMILAR_TO", "u2"), ("i0", "ALSO_BOUGHT", "i1")]
    g = torch.Generator().manual_seed(0)
    profiles = {eid: torch.randn(5, generator=g) for eid, t in entities if t != "category"}
    return build_triples(entities, triples, profiles=profiles)


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_attention_sums_to_one_per_destination(aggregator: Aggregator) -> None:
    torch.manual_seed(0)
    conv = KnowledgeQueryConv(2, aggregator)
    alpha = conv.attention(H, EDGE_INDEX, EDGE_TYPE, REL)
    assert alpha.shape == (4,) and bool((alpha > 0).all())
    sums = torch.zeros(4).index_add_(0, EDGE_INDEX[1], alpha)
    assert sums.tolist() == pytest.approx([0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_the_chunked_pass_without_gradients_equals_the_pyg_pass(aggregator: Aggregator) -> None:
    g = torch.Generator().manual_seed(1)
    n, e, dim = 40, 300, 8
    edge_index = torch.randint(n, (2, e), generator=g)
    edge_type, h, rel = (
        torch.randint(3, (e,), generator=g),
        torch.randn(n, dim, generator=g),
        torch.randn(3, dim),
    )
    torch.manual_seed(0)
    conv = KnowledgeQueryConv(dim, aggregator)
    conv.chunk = 7  # many chunks, the last one short
    with torch.no_grad():
        chunked = conv(h, edge_index, edge_type, rel)
    pyg = conv(h.requires_grad_(), edge_index, edge_type, rel)  # a gradient to keep: PyG's pass
    assert pyg.requires_grad and not chunked.requires_grad
    assert torch.allclose(chunked, pyg.detach(), atol=1e-5)
    assert chunked.abs().sum() > 0


def test_mean_aggregator_equals_hand_mean() -> None:
    m = KnowledgeQueryConv(2, "mean")(H, EDGE_INDEX, EDGE_TYPE, REL)
    q02, q12, q32, q01 = H[0] + REL[0], H[1] + REL[1], H[3] + REL[0], H[0] + REL[0]
    assert torch.allclose(m[2], (q02 + q12 + q32) / 3, atol=1e-6)  # = [0, 1]
    assert torch.allclose(m[1], q01)
    assert torch.allclose(m[0], torch.zeros(2)) and torch.allclose(m[3], torch.zeros(2))


def test_attn1_weights_and_message_hand_case() -> None:
    conv = KnowledgeQueryConv(2, "attn1")
    alpha = conv.attention(H, EDGE_INDEX, EDGE_TYPE, REL)
    # Queries into node 2 (h_2 = [1, 2]): [1.5, .5]·h2 = 2.5, [-1, 1]·h2 = 1, [-.5, 1.5]·h2 = 2.5.
    expected = torch.softmax(torch.tensor([2.5, 1.0, 2.5]), 0)
    assert torch.allclose(alpha[:3], expected)
    assert alpha[3].item() == pytest.approx(1.0)
    m = conv(H, EDGE_INDEX, EDGE_TYPE, REL)
    queries = torch.tensor([[1.5, 0.5], [-1.0, 1.0], [-0.5, 1.5]])
    assert torch.allclose(m[2], expected @ queries)


def test_attn2_logits_use_trainable_vector() -> None:
    conv = KnowledgeQueryConv(2, "attn2", negative_slope=0.1)
    assert conv.att is not None and conv.att.shape == (4,)
    with torch.no_grad():
        conv.att.copy_(torch.tensor([1.0, 0.0, 0.0, -1.0]))
    alpha = conv.attention(H, EDGE_INDEX, EDGE_TYPE, REL)
    # a·[Q || h_2] = Q_x - 2: 1.5-2 = -.5 -> -.05, -1-2 = -3 -> -.3, -.5-2 = -2.5 -> -.25 after LeakyReLU(.1)
    expected = torch.softmax(torch.tensor([-0.05, -0.3, -0.25]), 0)
    assert torch.allclose(alpha[:3], expected)
    loss = conv(H, EDGE_INDEX, EDGE_TYPE, REL).sum()
    loss.backward()
    assert conv.att.grad is not None and bool(conv.att.grad.abs().sum() > 0)


def test_unknown_aggregator_rejected() -> None:
    with pytest.raises(ValueError):
        KnowledgeQueryConv(2, "max")  # type: ignore[arg-type]


def test_update_rule_hand_case() -> None:
    model = GraphLearningModel(
        2,
        1,
        2,
        layers=1,
        aggregator="mean",
        entity_init=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        relation_init=torch.tensor([[1.0, 1.0]]),
    )
    lin = model.updates[0]
    assert isinstance(lin, torch.nn.Linear)
    assert torch.equal(lin.weight, torch.eye(2) / 2) and torch.equal(lin.bias, torch.zeros(2))
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
        lin.bias.copy_(torch.tensor([1.0, -1.0]))
    h, r = model(torch.tensor([[0], [1]]), torch.tensor([0]))
    # m_1 = h_0 + r = [2, 1]; h_1 = W([0,1] + [2,1]) + b = [7, 1]; h_0 = W[1,0] + b = [2, -1]; r = W[1,1] + b
    assert torch.allclose(h, torch.tensor([[2.0, -1.0], [7.0, 1.0]]))
    assert torch.allclose(r, torch.tensor([[4.0, 0.0]]))


def test_two_layers_share_w_between_nodes_and_relations() -> None:
    model = GraphLearningModel(2, 1, 1, layers=2, entity_init=torch.tensor([[1.0], [2.0]]))
    with torch.no_grad():
        model.relation.weight.fill_(3.0)
        for lin, (w, b) in zip(model.updates, [(2.0, 1.0), (0.5, 0.0)], strict=True):
            assert isinstance(lin, torch.nn.Linear)
            lin.weight.fill_(w)
            lin.bias.fill_(b)
    h, r = model(torch.tensor([[0], [1]]), torch.tensor([0]))
    # layer 1: h0 = 2*1+1 = 3, h1 = 2*(2 + 1 + 3) + 1 = 13, r = 2*3+1 = 7
    # layer 2: h0 = .5*3 = 1.5, h1 = .5*(13 + 3 + 7) = 11.5, r = 3.5
    assert h.flatten().tolist() == pytest.approx([1.5, 11.5])
    assert r.item() == pytest.approx(3.5)


def test_with_reverse_edges() -> None:
    ei, et = with_reverse_edges(torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([3, 4]), 3)
    assert ei.tolist() == [[0, 1, 3, 4], [3, 4, 0, 1]]
    assert et.tolist() == [0, 2, 3, 5]


def test_glm_loss_hand_case() -> None:
    h = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    users = torch.tensor([0, 0])
    # f(u, i1) = 5, f(u, i2) = 1: [1 + 1 - 5]+ = 0 and [1 + 5 - 1]+ = 5
    assert glm_loss(h, users, torch.tensor([2, 1]), torch.tensor([1, 2]), 1.0).item() == pytest.approx(2.5)
    neg2 = torch.tensor([[1, 2], [2, 2]])
    # pairs: (1,5)->0, (1,1)->1, (5,1)->5, (5,1)->5 -> mean 11/4
    assert glm_loss(h, users, torch.tensor([2, 1]), neg2, 1.0).item() == pytest.approx(2.75)
    l1 = glm_loss(h, users[:1], torch.tensor([1]), torch.tensor([2]), 1.0, p_norm=1)
    assert l1.item() == pytest.approx(1 + 7 - 1)  # L1: f(u, i1) = 7, f(u, i2) = 1


def test_user_item_pairs_orientation_and_filter() -> None:
    kg = build_triples(
        [("u", "user"), ("i", "item"), ("j", "item"), ("c", "category")],
        [("u", "LIKES", "i"), ("j", "DISLIKES", "u"), ("i", "IN_CATEGORY", "c"), ("i", "ALSO_BOUGHT", "j")],
    )
    assert user_item_pairs(kg).tolist() == [[0, 1], [0, 2]]
    assert user_item_pairs(kg, ["LIKES"]).tolist() == [[0, 1]]


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_training_reduces_loss(aggregator: Aggregator) -> None:
    kg = kg_fixture()
    pm = train_pretrained(kg, dim=8, epochs=5, batch_size=32)
    seen: list[int] = []
    res = train_glm(
        kg, pm, aggregator=aggregator, epochs=25, lr=0.02, batch_size=8, progress=lambda e, _: seen.append(e)
    )
    assert seen == list(range(1, 26))
    assert sum(res.loss_history[-5:]) < 0.7 * sum(res.loss_history[:5])
    assert res.user_embeddings.shape == (10, 8) and res.item_embeddings.shape == (6, 8)
    assert res.relation_embeddings.shape == (2 * kg.num_relations, 8)


def test_same_seed_identical_and_random_init_ablation() -> None:
    kg = kg_fixture()
    pm = train_pretrained(kg, dim=4, epochs=2, batch_size=32)
    a = train_glm(kg, pm, aggregator="attn2", epochs=3, batch_size=8, seed=3)
    b = train_glm(kg, pm, aggregator="attn2", epochs=3, batch_size=8, seed=3)
    assert torch.equal(a.node_embeddings, b.node_embeddings) and a.loss_history == b.loss_history
    c = train_glm(kg, None, dim=6, epochs=3, batch_size=8, seed=3)
    d = train_glm(kg, None, dim=6, epochs=3, batch_size=8, seed=3)
    assert c.node_embeddings.shape == (kg.num_entities, 6)
    assert torch.equal(c.node_embeddings, d.node_embeddings)


def test_starts_from_pretrained_embeddings() -> None:
    kg = kg_fixture()
    pm = train_pretrained(kg, dim=4, epochs=2, batch_size=32)
    # No layers and no epochs: the output is h^0, which must be the PM's e (and −e_r for reverse relations).
    res = train_glm(kg, pm, layers=0, epochs=0, train_embeddings=True)
    assert torch.equal(res.node_embeddings, pm.entity_embeddings)
    assert torch.equal(res.relation_embeddings[: kg.num_relations], pm.relation_embeddings)
    assert torch.equal(res.relation_embeddings[kg.num_relations :], -pm.relation_embeddings)


def test_frozen_embeddings_by_default() -> None:
    model = GraphLearningModel(3, 2, 4)
    assert not model.entity.weight.requires_grad and not model.relation.weight.requires_grad
    assert all(p.requires_grad for p in model.updates.parameters())
    assert GraphLearningModel(3, 2, 4, train_embeddings=True).entity.weight.requires_grad


@pytest.mark.parametrize("aggregator", AGGREGATORS)
@pytest.mark.parametrize("train_embeddings", [False, True])
def test_restricted_forward_is_exact_on_requested_nodes(
    aggregator: Aggregator, train_embeddings: bool
) -> None:
    kg = kg_fixture()
    pm = train_pretrained(kg, dim=4, epochs=2, batch_size=32)
    model = GraphLearningModel(
        kg.num_entities,
        2 * kg.num_relations,
        4,
        aggregator=aggregator,
        entity_init=pm.entity_embeddings,
        train_embeddings=train_embeddings,
    )
    edge_index, edge_type = with_reverse_edges(kg.head, kg.rel, kg.tail, kg.num_relations)
    with torch.no_grad():
        for lin in model.updates:
            lin.weight.add_(0.1 * torch.randn_like(lin.weight))
    full, _ = model(edge_index, edge_type)
    nodes = torch.tensor([0, 3, 11])
    first = model.frozen_first_message(edge_index, edge_type)
    # m^1 is a constant only when h^0, r^0 and the first conv are all frozen.
    assert (first is None) == (train_embeddings or aggregator == "attn2")
    part, _ = model(edge_index, edge_type, nodes=nodes, first_message=first)
    torch.testing.assert_close(part[nodes], full[nodes])
    # The restriction really drops edges: the first layer skips every edge into nodes nobody needs.
    masks = model.edge_masks(edge_index, nodes)
    assert masks[-1].sum() < masks[0].sum() < edge_index.shape[1]
