"""GLoM graph learning model (GLM, §3.6.2–3.7): linear knowledge-query message passing trained with Eq. 9.

Layer l computes ``m^l`` with a :class:`KnowledgeQueryConv` and updates (Eq. 8, no non-linearity)

    h_v^l = W^l (h_v^{l-1} + m_v^l) + b^l,        r^l = W^l r^{l-1} + b^l     (same W^l, b^l)

generalised by a message share β (``message_share``, default ½) to ``W^l (2(1 − β) h_v^{l-1} + 2β m_v^l) +
b^l``: β = ½ is Eq. 8 exactly, β = 0 passes the PM through untouched while ``W^l = ½ I`` and ``b^l = 0``.

Design decisions (the paper leaves these open):

* Edges: every triple (u, r, v) gives a message u → v with relation r, and a reverse message v → u with its
  own relation id ``r + R``. Reverse relations start at ``−e_r`` of the PM, since ``e_u + r ≈ e_v`` implies
  ``e_v − r ≈ e_u``; all relation embeddings are then trained.
* ``h^0`` / ``r^0`` are the PM's entity/relation embeddings, used as fixed inputs ("passed through a GCN for
  smoothing"): by default only ``W^l``, ``b^l`` (and ``a`` for attn2) are trained. ``train_embeddings=True``
  also fine-tunes ``h^0``/``r^0``; on a planted-community graph that overfit Eq. 9's noisy user–item pairs
  and lowered user–user neighbourhood quality. ``pretrain=None`` starts from Xavier-random embeddings
  instead ("w/o PM"); there ``train_embeddings=True`` is the stronger ablation.
* ``W^l`` starts at ``½ I`` and ``b^l`` at 0: under the PM's translation property each query ``h_u + r`` is
  close to ``h_v``, so ``m_v ≈ h_v`` and the initial layer averages the node with its neighbours' queries
  without changing the embedding scale (``I`` would double it every layer).
* Eq. 9 positives are the (user, item) pairs of all user–item triples (in either orientation) whose relation
  is in ``positive_relations`` (default: every relation); each positive gets ``num_negatives`` items drawn
  uniformly from all items; the loss is averaged like Eq. 2 in the PM. The paper leaves ``f`` open. With
  ``f = ||h_U − h_I||_p`` (``relational=False``) every user must move onto its items although the PM put it
  at ``h_I − r``: the cheapest way is one shared shift of all users, which ``b^l`` and a few inflated
  directions of ``W^l`` supply, so the users collapse into a cone (mean pairwise cosine 0.80–0.94 on
  Gift_Cards) and validation AP falls below the PM's. ``relational=True`` (the pipeline's default) uses the
  PM's own energy ``f = ||h_U + r^L − h_I||_p`` with the pair's relation (``r + R`` for an (item, r, user)
  triple); ``bias=False`` freezes ``b^l`` at 0. Measurements: ``docs/lookalike-evaluation.md``, "The GLM
  stage".
* A training step computes ``h^L`` only where Eq. 9 reads it (the batch's users and items): layer ``l``
  runs on the edges into the nodes that layer ``l+1`` needs, which is exact, not sampled. While ``h^0``,
  ``r^0`` and the first conv are frozen (the default, except for attn2), ``m^1`` is a constant and is
  computed once. At 10k synthetic users this took a step from about 2 s (full graph) to about 0.1 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import torch
from torch import nn

from mokg.glom.aggregators import Aggregator, KnowledgeQueryConv
from mokg.glom.pretrain import (
    MAX_STEPS_PER_EPOCH,
    PretrainResult,
    ProgressFn,
    epoch_batch_size,
    margin_ranking_loss,
)
from mokg.glom.triples import KGTriples

Combine = Literal["last", "mean", "residual"]
COMBINES: tuple[str, ...] = get_args(Combine)
Norm = Literal["none", "unit"]
Negatives = Literal["all", "reviewed"]


def with_reverse_edges(
    head: torch.Tensor, rel: torch.Tensor, tail: torch.Tensor, num_relations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``edge_index [2, 2T]`` (head→tail, then tail→head) and ``edge_type [2T]`` (reverse ids: ``r + R``)."""
    edge_index = torch.stack([torch.cat([head, tail]), torch.cat([tail, head])])
    edge_type = torch.cat([rel, rel + num_relations])
    return edge_index, edge_type


def pair_distance(user: torch.Tensor, item: torch.Tensor, p_norm: int = 2) -> torch.Tensor:
    """Eq. 9 score ``f(h_U, h_I) = ||h_U − h_I||_p`` over the last dimension."""
    return torch.linalg.vector_norm(user - item, ord=p_norm, dim=-1)


def glm_loss(
    h: torch.Tensor,
    users: torch.Tensor,
    pos_items: torch.Tensor,
    neg_items: torch.Tensor,
    margin: float,
    p_norm: int = 2,
    norm: Norm = "none",
    rel: torch.Tensor | None = None,
    adversarial: float = 0.0,
) -> torch.Tensor:
    """Eq. 9: mean ``[γ + f(h_U, h_I) − f(h_U, h_I')]_+``; ``neg_items`` is ``[B]`` or ``[B, K]``.
    ``norm="unit"`` measures f between L2-normalised embeddings (distances bounded by 2). With ``rel``
    (``[B, H]``, the pair's relation embedding r^L) f is the PM's translation ``||h_U + r − h_I||_p``.
    ``adversarial`` weights the K negatives as in :func:`~mokg.glom.pretrain.margin_ranking_loss`."""

    def rows(idx: torch.Tensor) -> torch.Tensor:
        x = h[idx]
        return torch.nn.functional.normalize(x, dim=-1) if norm == "unit" else x

    hu = rows(users)
    if rel is not None:
        hu = hu + rel
    pos = pair_distance(hu, rows(pos_items), p_norm)
    neg = pair_distance(hu.unsqueeze(1) if neg_items.dim() == 2 else hu, rows(neg_items), p_norm)
    return margin_ranking_loss(pos, neg, margin, adversarial)


class GraphLearningModel(nn.Module):
    """``layers`` knowledge-query layers over learnable initial entity/relation embeddings.

    ``num_relations`` is the total number of relation ids used by ``edge_type`` (including reverse ids).
    """

    def __init__(
        self,
        num_entities: int,
        num_relations: int,
        dim: int,
        *,
        layers: int = 2,
        aggregator: Aggregator = "mean",
        entity_init: torch.Tensor | None = None,
        relation_init: torch.Tensor | None = None,
        train_embeddings: bool = False,
        bias: bool = True,
        combine: Combine = "last",
        message_share: float = 0.5,
    ) -> None:
        super().__init__()
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}")
        if not 0.0 <= message_share <= 1.0:
            raise ValueError(f"message_share must lie in [0, 1], got {message_share}")
        self.combine = combine
        # 2(1 − β) and 2β are 1 and 1 at β = ½, so the default computes h + m bit for bit
        self.keep_weight, self.message_weight = 2 * (1 - message_share), 2 * message_share
        self.entity = nn.Embedding(num_entities, dim)
        self.relation = nn.Embedding(num_relations, dim)
        nn.init.xavier_uniform_(self.entity.weight)
        nn.init.xavier_uniform_(self.relation.weight)
        with torch.no_grad():
            if entity_init is not None:
                self.entity.weight.copy_(entity_init)
            if relation_init is not None:
                self.relation.weight.copy_(relation_init)
        self.entity.weight.requires_grad_(train_embeddings)
        self.relation.weight.requires_grad_(train_embeddings)
        self.convs = nn.ModuleList(KnowledgeQueryConv(dim, aggregator) for _ in range(layers))
        self.updates = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        with torch.no_grad():
            for lin in self.updates:
                assert isinstance(lin, nn.Linear)
                lin.weight.copy_(torch.eye(dim) / 2)
                lin.bias.zero_()
                lin.bias.requires_grad_(bias)

    def forward(
        self,
        edge_index: torch.Tensor,
        edge_type: torch.Tensor,
        *,
        nodes: torch.Tensor | None = None,
        first_message: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Final node and relation embeddings ``(h^L, r^L)``.

        With ``nodes``, each layer runs only on the edges that ``h^L[nodes]`` depends on: those rows are
        exact, the others miss messages and must not be read. ``first_message`` is a precomputed ``m^1``
        (see :meth:`frozen_first_message`).
        """
        # a precomputed m^1 needs no edges for the first layer
        skip = int(first_message is not None and len(self.convs) > 0)
        masks: list[torch.Tensor | None] = [None] * len(self.convs)
        if nodes is not None:
            masks[skip:] = self.edge_masks(edge_index, nodes, len(self.convs) - skip)
        h, r = self.entity.weight, self.relation.weight
        outputs = [h]
        for layer, (conv, update, mask) in enumerate(zip(self.convs, self.updates, masks, strict=True)):
            if layer == 0 and first_message is not None:
                m = first_message
            elif mask is None:
                m = conv(h, edge_index, edge_type, r)
            else:
                m = conv(h, edge_index[:, mask], edge_type[mask], r)
            h, r = update(self.keep_weight * h + self.message_weight * m), update(r)
            outputs.append(h)
        if self.combine == "mean":
            h = torch.stack(outputs).mean(0)
        elif self.combine == "residual":
            h = outputs[0] + h
        return h, r

    def edge_masks(
        self, edge_index: torch.Tensor, nodes: torch.Tensor, layers: int | None = None
    ) -> list[torch.Tensor]:
        """For the last ``layers`` layers (default: all), first to last, the edges whose destination the
        layers above still need."""
        need = torch.zeros(self.entity.num_embeddings, dtype=torch.bool, device=edge_index.device)
        need[nodes] = True
        masks: list[torch.Tensor] = []
        for k in range(len(self.convs) if layers is None else layers):
            if k:  # widen by the sources of the layer above (not after the last mask: nobody reads it)
                need = need.clone()
                need[edge_index[0, masks[-1]]] = True
            masks.append(need[edge_index[1]])
        return masks[::-1]

    def frozen_first_message(self, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor | None:
        """``m^1``, when nothing it depends on is trained (else ``None``): the same for every step."""
        if not self.convs:
            return None
        trained = [self.entity.weight, self.relation.weight, *self.convs[0].parameters()]
        if any(p.requires_grad for p in trained):
            return None
        with torch.no_grad():
            return self.convs[0](self.entity.weight, edge_index, edge_type, self.relation.weight)


@dataclass
class GLMResult:
    """Detached CPU outputs of GLM."""

    node_embeddings: torch.Tensor  # [N, H], final h^L of every entity
    relation_embeddings: torch.Tensor  # [2R, H], final r^L (forward then reverse ids)
    user_index: torch.Tensor  # entity indices of users
    item_index: torch.Tensor  # entity indices of items
    loss_history: list[float]  # mean Eq. 9 loss per epoch
    # the trained model (CPU), for embedding nodes it never saw (mokg.glom.inductive)
    state: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def user_embeddings(self) -> torch.Tensor:
        return self.node_embeddings[self.user_index]

    @property
    def item_embeddings(self) -> torch.Tensor:
        return self.node_embeddings[self.item_index]


def user_item_pairs(triples: KGTriples, positive_relations: Sequence[str] | None = None) -> torch.Tensor:
    """``[P, 2]`` (user, item) entity-index pairs from user–item triples in either orientation."""
    return user_item_pairs_with_relations(triples, positive_relations)[0]


def user_item_pairs_with_relations(
    triples: KGTriples, positive_relations: Sequence[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`user_item_pairs` and, per pair, the relation id that translates the user to the item: ``r``
    for a (user, r, item) triple, the reverse id ``r + R`` for an (item, r, user) one."""
    user, item = triples.type_id("user"), triples.type_id("item")
    ht, tt = triples.entity_type[triples.head], triples.entity_type[triples.tail]
    keep = torch.ones_like(triples.rel, dtype=torch.bool)
    if positive_relations is not None:
        ids = torch.tensor([triples.relation_names.index(n) for n in positive_relations], dtype=torch.long)
        keep = torch.isin(triples.rel, ids)
    forward = keep & (ht == user) & (tt == item)
    backward = keep & (ht == item) & (tt == user)
    pairs = torch.cat(
        [
            torch.stack([triples.head[forward], triples.tail[forward]], 1),
            torch.stack([triples.tail[backward], triples.head[backward]], 1),
        ]
    )
    return pairs, torch.cat([triples.rel[forward], triples.rel[backward] + triples.num_relations])


def train_glm(
    triples: KGTriples,
    pretrain: PretrainResult | None,
    *,
    aggregator: Aggregator = "mean",
    layers: int = 2,
    epochs: int = 50,
    lr: float = 0.005,
    margin: float = 1.0,
    batch_size: int = 1024,
    num_negatives: int = 1,
    adversarial: float = 0.0,
    p_norm: int = 2,
    seed: int = 0,
    dim: int = 64,
    train_embeddings: bool = False,
    positive_relations: Sequence[str] | None = None,
    bias: bool = True,
    combine: Combine = "last",
    norm: Norm = "none",
    negatives: Negatives = "all",
    relational: bool = False,
    user_pairs: bool = False,
    message_share: float = 0.5,
    max_steps_per_epoch: int | None = MAX_STEPS_PER_EPOCH,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> GLMResult:
    """Train GLM with Adam on Eq. 9; ``progress(epoch, mean_loss)`` after each epoch (1-based).

    ``pretrain=None`` is the "w/o PM" ablation (random init of size ``dim``); otherwise ``dim`` is ignored and
    the PM's sizes are used. Reproducible for a given ``seed`` on CPU (as :func:`train_pretrained`).

    Options measured against the PM (``docs/lookalike-evaluation.md``, "The GLM stage"): ``relational`` (f is
    the PM translation with the pair's relation, see the module docstring), ``bias`` (False freezes ``b^l`` at
    0), ``combine`` (the output: the last layer, the mean of ``h^0..h^L`` as in LightGCN, or ``h^0 + h^L``),
    ``norm`` (``"unit"``: f between L2-normalised embeddings), ``negatives`` (``"reviewed"``: only items that
    some user reviewed), ``user_pairs`` (user–user triples such as SIMILAR_TO as extra positives, against
    random users), ``message_share`` (β of the module docstring: how much of each layer's input is the
    message rather than the node itself).
    """
    pairs, pair_rel = user_item_pairs_with_relations(triples, positive_relations)
    if len(pairs) == 0:
        raise ValueError("no user-item pairs to train on")
    items = triples.entities_of_type("item")
    neg_pool = items if negatives == "all" else torch.unique(pairs[:, 1])
    # with user_pairs, user–user triples (SIMILAR_TO) are positives too, against random users
    is_user_pair = torch.zeros(len(pairs), dtype=torch.bool)
    user_pool = triples.entities_of_type("user")
    if user_pairs:
        both = (triples.entity_type[triples.head] == triples.type_id("user")) & (
            triples.entity_type[triples.tail] == triples.type_id("user")
        )
        pairs = torch.cat([pairs, torch.stack([triples.head[both], triples.tail[both]], 1)])
        pair_rel = torch.cat([pair_rel, triples.rel[both]])
        is_user_pair = torch.cat([is_user_pair, torch.ones(int(both.sum()), dtype=torch.bool)])
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    entity_init = relation_init = None
    if pretrain is not None:
        entity_init = pretrain.entity_embeddings
        relation_init = torch.cat([pretrain.relation_embeddings, -pretrain.relation_embeddings])
        dim = entity_init.shape[1]
    model = GraphLearningModel(
        triples.num_entities,
        2 * triples.num_relations,
        dim,
        layers=layers,
        aggregator=aggregator,
        entity_init=entity_init,
        relation_init=relation_init,
        train_embeddings=train_embeddings,
        bias=bias,
        combine=combine,
        message_share=message_share,
    ).to(device)
    edge_index, edge_type = with_reverse_edges(triples.head, triples.rel, triples.tail, triples.num_relations)
    edge_index, edge_type = edge_index.to(device), edge_type.to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    first = model.frozen_first_message(edge_index, edge_type)
    batch_size = epoch_batch_size(len(pairs), batch_size, max_steps_per_epoch)
    history: list[float] = []
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(pairs), generator=gen)
        total = 0.0
        for batch in perm.split(batch_size):
            neg = neg_pool[torch.randint(len(neg_pool), (len(batch), num_negatives), generator=gen)]
            if user_pairs:
                neg_u = user_pool[torch.randint(len(user_pool), neg.shape, generator=gen)]
                neg = torch.where(is_user_pair[batch].unsqueeze(1), neg_u, neg)
            users, pos, neg = pairs[batch, 0].to(device), pairs[batch, 1].to(device), neg.to(device)
            nodes = torch.cat([users, pos, neg.flatten()])
            h, r = model(edge_index, edge_type, nodes=nodes, first_message=first)
            rel = r[pair_rel[batch].to(device)] if relational else None
            loss = glm_loss(h, users, pos, neg, margin, p_norm, norm, rel, adversarial)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        history.append(total / len(pairs))
        if progress is not None:
            progress(epoch, history[-1])
    with torch.no_grad():
        h, r = model(edge_index, edge_type)
    return GLMResult(
        node_embeddings=h.cpu(),
        relation_embeddings=r.cpu(),
        user_index=triples.entities_of_type("user"),
        item_index=items,
        loss_history=history,
        state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    )
