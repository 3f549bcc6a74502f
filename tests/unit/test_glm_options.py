"""GLM options measured against the PM on real data (``docs/lookalike-evaluation.md``, "The GLM stage"):
bias, the relation-aware Eq. 9, layer combination, normalised distances, negatives, user–user positives."""

from __future__ import annotations

import pytest
import torch

from mokg.glom.glm import GraphLearningModel, train_glm, user_item_pairs_with_relations
from mokg.glom.pretrain import train_pretrained
from mokg.glom.triples import KGTriples, build_triples
from mokg.lookalike.scoring import mean_pairwise_cosine

torch.set_num_threads(1)


def kg() -> KGTriples:
    entities = [(f"u{i}", "user") for i in range(12)] + [(f"i{j}", "item") for j in range(8)]
    triples = [(f"u{i}", "LIKES", f"i{(i + k) % 4 + 4 * (i % 2)}") for i in range(12) for k in range(2)]
    triples += [("i5", "DISLIKES", "u3"), ("u0", "SIMILAR_TO", "u2"), ("u1", "SIMILAR_TO", "u3")]
    return build_triples(entities, triples)


def test_pairs_carry_the_relation_that_translates_user_to_item() -> None:
    g = kg()
    pairs, rel = user_item_pairs_with_relations(g)
    likes, dislikes = g.relation_names.index("LIKES"), g.relation_names.index("DISLIKES")
    assert len(pairs) == len(rel) == 25
    # the (item, DISLIKES, user) triple is read as (user, reverse DISLIKES, item)
    assert rel.tolist().count(likes) == 24 and rel.tolist()[-1] == dislikes + g.num_relations


def test_without_bias_the_bias_stays_zero_and_embeddings_do_not_collapse() -> None:
    g = kg()
    pm = train_pretrained(g, dim=8, epochs=5, batch_size=16)
    users = g.entities_of_type("user")
    with_bias = train_glm(g, pm, aggregator="attn1", epochs=40, lr=0.05, batch_size=8)
    no_bias = train_glm(g, pm, aggregator="attn1", epochs=40, lr=0.05, batch_size=8, bias=False)
    cos_b = mean_pairwise_cosine(with_bias.node_embeddings[users].numpy())
    cos_n = mean_pairwise_cosine(no_bias.node_embeddings[users].numpy())
    assert cos_n < cos_b
    model = GraphLearningModel(4, 2, 3, bias=False)
    assert all(not lin.bias.requires_grad and not lin.bias.any() for lin in model.updates)


@pytest.mark.parametrize(
    "options",
    [
        {"relational": True},
        {"relational": True, "bias": False},
        {"combine": "mean"},
        {"combine": "residual"},
        {"norm": "unit"},
        {"negatives": "reviewed"},
        {"user_pairs": True},
    ],
)
def test_every_option_trains_and_is_reproducible(options: dict) -> None:
    g = kg()
    pm = train_pretrained(g, dim=8, epochs=3, batch_size=16)
    a = train_glm(g, pm, aggregator="attn1", epochs=5, lr=0.02, batch_size=8, seed=1, **options)
    b = train_glm(g, pm, aggregator="attn1", epochs=5, lr=0.02, batch_size=8, seed=1, **options)
    assert torch.equal(a.node_embeddings, b.node_embeddings)
    assert a.node_embeddings.shape == (g.num_entities, 8) and all(x == x for x in a.loss_history)


def test_layer_combinations() -> None:
    h0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    ei, et = torch.tensor([[0], [1]]), torch.tensor([0])
    out = {}
    for combine in ("last", "mean", "residual"):
        m = GraphLearningModel(
            2, 1, 2, layers=1, entity_init=h0, relation_init=torch.zeros(1, 2), combine=combine
        )
        out[combine] = m(ei, et)[0].detach()
    assert torch.allclose(out["residual"], h0 + out["last"])
    assert torch.allclose(out["mean"], (h0 + out["last"]) / 2)
    with pytest.raises(ValueError):
        GraphLearningModel(2, 1, 2, combine="sum")


def test_the_message_share_weighs_the_node_against_its_message() -> None:
    h0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    rel = torch.tensor([[0.5, -0.5]])
    ei, et = torch.tensor([[0], [1]]), torch.tensor([0])

    def layer(share: float | None) -> torch.Tensor:
        kw = {} if share is None else {"message_share": share}
        m = GraphLearningModel(2, 1, 2, layers=1, aggregator="mean", entity_init=h0, relation_init=rel, **kw)
        return m(ei, et)[0].detach()

    # node 1's message is h_0 + r = [1.5, -0.5]; node 0 gets none; W = I/2, b = 0
    assert torch.equal(layer(0.5), layer(None))  # Eq. 8's h + m, bit for bit
    assert torch.equal(layer(0.0), h0)  # the PM passes through
    assert torch.allclose(layer(0.25), torch.tensor([[0.75, 0.0], [0.375, 0.625]]))
    assert torch.allclose(layer(1.0), torch.tensor([[0.0, 0.0], [1.5, -0.5]]))
    with pytest.raises(ValueError, match="message_share"):
        GraphLearningModel(2, 1, 2, message_share=1.5)
