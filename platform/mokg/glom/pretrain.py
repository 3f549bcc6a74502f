"""GLoM pre-trained model (PM, §3.5): TransE-style energies over interaction and profile representations.

Each entity has an interaction-based embedding ``x_i`` (free parameter) and, if it has a generated profile, a
profile-based embedding ``x_p = W_p t + b_p`` (learned linear projection of its fixed text embedding ``t``).
For a triple (u, r, v) the energy is ``F = F_I + F_GG + F_GI + F_IG`` with

    F_I  = ||u_i + r - v_i||     F_GG = ||u_p + r - v_p||
    F_GI = ||u_p + r - v_i||     F_IG = ||u_i + r - v_p||

Interpretation for ends without a profile (categories, stores, or a user/item whose profile is missing): a
term is only counted when every representation it uses exists, so (user, IN_CATEGORY-like, category) keeps
F_I + F_GI, (category, r, item) keeps F_I + F_IG, and profile-less pairs keep F_I alone. To keep positive and
negative energies comparable (same set of terms), a corrupted end is replaced by a random entity of the same
type *and* the same profile availability. With ``use_profiles=False`` only F_I is used ("w/o profiles").

Training minimises Eq. 2, ``[γ + F(pos) − F(neg)]_+`` averaged (not summed, so ``lr`` does not depend on the
batch size) over every positive and each of its ``num_negatives`` corruptions. By default (``margin_per_term``)
γ is per energy term, i.e. a triple with n applicable terms uses margin ``n·γ``: F is a sum of up to four
distances, and with one fixed γ adding the profile terms quarters the effective margin (on a planted-community
graph that made the PM with profiles worse than without; ``n·γ`` fixed it). ``margin_per_term=False`` is
Eq. 2 verbatim. Each corruption replaces the head or the tail with probability 1/2, by an entity drawn uniformly
or in proportion to a power of its degree (``negative_power``), unfiltered: a corruption may by chance be a
true triple. With batch negatives (``shared_negatives``) half of a positive's
corruptions replace its head and half its tail, drawn once per chunk of positives (:class:`SharedCorruptions`).
As in TransE, entity representations are kept to L2 norm ≤ ``max_norm`` so the loss cannot be lowered by
inflating norms: interaction embeddings are renormalised after every step, projected profiles are rescaled
(differentiably) in the forward pass. Without the latter the projection grows unboundedly, the profile terms
dominate F and the two representations end up on different scales.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mokg.glom.triples import KGTriples

ProgressFn = Callable[[int, float], None]


def translation_distance(
    head: torch.Tensor, rel: torch.Tensor, tail: torch.Tensor, p_norm: int
) -> torch.Tensor:
    """``||head + rel − tail||_p`` over the last dimension."""
    return torch.linalg.vector_norm(head + rel - tail, ord=p_norm, dim=-1)


def ball_scale(x: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Per row of ``x``, the factor that brings it into the L2 ball of radius ``max_norm`` (1 inside it)."""
    return torch.clamp(max_norm / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp(min=1e-12), max=1.0)


def margin_ranking_loss(
    pos: torch.Tensor, neg: torch.Tensor, margin: float | torch.Tensor, adversarial: float = 0.0
) -> torch.Tensor:
    """Mean of ``[margin + pos − neg]_+`` (Eq. 2 / Eq. 9). ``pos`` is ``[B]``; ``neg`` is ``[B]`` or
    ``[B, K]`` (K negatives per positive, each paired with its positive); ``margin`` a scalar or ``[B]``.

    ``adversarial`` > 0 weights a positive's K hinge terms by ``softmax(−adversarial · neg)`` (detached)
    instead of equally: self-adversarial sampling (Sun et al., RotatE, 2019), where the corruptions that are
    hardest for the model count most, so random easy negatives stop diluting the gradient."""
    if neg.dim() == pos.dim() + 1:
        pos = pos.unsqueeze(-1)
        if isinstance(margin, torch.Tensor):
            margin = margin.unsqueeze(-1)
    hinge = torch.clamp(margin + pos - neg, min=0)
    if adversarial > 0 and neg.dim() == 2:
        weight = torch.softmax(-adversarial * neg.detach(), dim=-1)
        return (hinge * weight).sum(-1).mean()
    return hinge.mean()


class EntityGroups:
    """Entities sorted by a non-negative ``[N]`` group id, once per training run (not once per step: the
    sort of 120k entities cost ~1 ms a call), for random draws within a group: uniform, or with ``weight``
    (``[N]``, positive) proportional to it."""

    def __init__(self, group: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        self.group = group
        self.members = torch.argsort(group, stable=True)
        self.counts = torch.bincount(group)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts
        # weighted: the members' cumulative weight after a leading 0, so group g spans
        # [cumulative[offset], cumulative[offset + count]) and a draw is one uniform number and a binary search
        self.cumulative: torch.Tensor | None = None
        if weight is not None:
            ordered = weight.double()[self.members]
            self.cumulative = torch.cumsum(torch.cat([ordered.new_zeros(1), ordered]), 0)

    def draw(self, groups: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """For each entry of ``groups`` (any shape), a random member of that group."""
        n = self.counts[groups]
        if self.cumulative is None:
            pick = (torch.rand(groups.shape, generator=generator) * n).long().clamp(max=n - 1)
            return self.members[self.offsets[groups] + pick]
        first = self.offsets[groups]
        low, high = self.cumulative[first], self.cumulative[first + n]
        u = low + torch.rand(groups.shape, generator=generator, dtype=torch.float64) * (high - low)
        at = torch.searchsorted(self.cumulative, u.reshape(-1), right=True).reshape(groups.shape) - 1
        return self.members[torch.clamp(at, first, first + n - 1)]  # rounding cannot leave the group


def degree_weights(triples: KGTriples, power: float) -> torch.Tensor | None:
    """``(degree + 1)^power`` per entity, its degree counted over the triples it heads or tails; None for
    power 0 (uniform draws). With power 1 an entity is drawn as a corruption about as often as it appears in
    a positive, so how often an entity is seen no longer decides where the PM puts it; that did not raise
    AP beyond noise on tasks built inside the shared sets' reviews (log, "Stop 49"), so 0 is the default."""
    if power == 0:
        return None
    degree = torch.bincount(torch.cat([triples.head, triples.tail]), minlength=triples.num_entities)
    return (degree.double() + 1) ** power


def sample_same_group(
    entities: torch.Tensor, groups: EntityGroups, generator: torch.Generator
) -> torch.Tensor:
    """For each entity, a uniformly random entity (possibly itself) of its group."""
    return groups.draw(groups.group[entities], generator)


@dataclass
class EnergyTerms:
    """Per-triple energy terms; a term that does not apply to a triple is 0 there."""

    interaction: torch.Tensor  # F_I
    profile_profile: torch.Tensor  # F_GG
    profile_interaction: torch.Tensor  # F_GI
    interaction_profile: torch.Tensor  # F_IG

    count: torch.Tensor  # number of applicable terms per triple (1, 2 or 4)

    @property
    def total(self) -> torch.Tensor:
        return self.interaction + self.profile_profile + self.profile_interaction + self.interaction_profile


class PretrainedModel(nn.Module):
    """Interaction + profile entity representations and relation embeddings sharing one vector space."""

    profile: torch.Tensor
    has_profile: torch.Tensor

    def __init__(
        self,
        num_entities: int,
        num_relations: int,
        dim: int = 64,
        *,
        profile: torch.Tensor | None = None,
        has_profile: torch.Tensor | None = None,
        p_norm: int = 2,
        use_profiles: bool = True,
        max_norm: float | None = 1.0,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        self.p_norm = p_norm
        self.max_norm = max_norm
        self.entity = nn.Embedding(num_entities, dim, sparse=sparse)
        self.relation = nn.Embedding(num_relations, dim)
        nn.init.xavier_uniform_(self.entity.weight)
        nn.init.xavier_uniform_(self.relation.weight)
        self.profile_proj: nn.Linear | None = None
        if use_profiles and profile is not None and has_profile is not None and bool(has_profile.any()):
            self.profile_proj = nn.Linear(profile.shape[1], dim)
            self.register_buffer("profile", profile.float())
            self.register_buffer("has_profile", has_profile.bool())
        else:
            self.register_buffer("profile", torch.zeros(num_entities, 0))
            self.register_buffer("has_profile", torch.zeros(num_entities, dtype=torch.bool))

    def profile_embeddings(self, index: torch.Tensor | None = None) -> torch.Tensor | None:
        """Projected profiles ``x_p`` of ``index`` (all entities if None), norm-capped at ``max_norm``;
        meaningful only where ``has_profile``. None when the model does not use profiles."""
        if self.profile_proj is None:
            return None
        x = self.profile_proj(self.profile if index is None else self.profile[index])
        return x if self.max_norm is None else x * ball_scale(x, self.max_norm)

    def energy_terms(self, head: torch.Tensor, rel: torch.Tensor, tail: torch.Tensor) -> EnergyTerms:
        # Each distinct entity is looked up once: with sparse gradients, repeated rows (popular items, a
        # positive's K corruptions) would otherwise make the optimiser coalesce ~10x more gradient rows.
        ids, inv = torch.unique(torch.cat([head, tail]), return_inverse=True)
        x = self.entity(ids)
        return self._terms(
            x,
            self.profile_embeddings(ids),
            inv[: len(head)],
            inv[len(head) :],
            head,
            tail,
            self.relation(rel),
        )

    def _terms(
        self,
        x: torch.Tensor,
        p: torch.Tensor | None,
        at_head: torch.Tensor,
        at_tail: torch.Tensor,
        head: torch.Tensor,
        tail: torch.Tensor,
        r: torch.Tensor,
    ) -> EnergyTerms:
        """Energy terms from looked-up rows: ``x``/``p`` the interaction/profile rows, ``at_*`` into them."""
        # index_select, not x[idx]: its backward is an index_add_, faster on CPU than advanced indexing's
        # accumulating index_put (with RowAdam's fused renormalisation, a batch-negative PM epoch at 100k
        # users took 3.07 s instead of 3.60 s, median of 6, same loss)
        hi, ti = x.index_select(0, at_head), x.index_select(0, at_tail)
        f_i = translation_distance(hi, r, ti, self.p_norm)
        hp, tp = (None, None) if p is None else (p.index_select(0, at_head), p.index_select(0, at_tail))
        if hp is None or tp is None:
            zero = torch.zeros_like(f_i)
            return EnergyTerms(f_i, zero, zero, zero, torch.ones_like(f_i))
        mh = self.has_profile[head].to(f_i.dtype)
        mt = self.has_profile[tail].to(f_i.dtype)
        return EnergyTerms(
            interaction=f_i,
            profile_profile=translation_distance(hp, r, tp, self.p_norm) * mh * mt,
            profile_interaction=translation_distance(hp, r, ti, self.p_norm) * mh,
            interaction_profile=translation_distance(hi, r, tp, self.p_norm) * mt,
            count=(1 + mh) * (1 + mt),
        )

    def shared_negative_energies(
        self, head: torch.Tensor, rel: torch.Tensor, tail: torch.Tensor, neg: SharedCorruptions
    ) -> tuple[EnergyTerms, torch.Tensor]:
        """The positives' energy terms ``[B]`` and, ``[B, 2M]``, the energy of each positive with its head
        replaced by each of the M entities of its head request's pool, then its tail by those of its tail
        request's pool.

        Head corruption compares each candidate with the query ``t − r``, tail corruption with ``h + r``
        (``||h' + r − t|| = ||h' − (t − r)||``, and likewise per profile term), so a chunk's queries and its
        pool give all their distances in one batched ``cdist`` per energy term."""
        n, chunks = len(head), neg.pools.shape[0]
        ids, inv = torch.unique(torch.cat([head, tail, neg.pools.flatten()]), return_inverse=True)
        at_head, at_tail, at_pool = inv[:n], inv[n : 2 * n], inv[2 * n :].view(neg.pools.shape)
        x, r = self.entity(ids), self.relation(rel)
        p = self.profile_embeddings(ids)
        positive = self._terms(x, p, at_head, at_tail, head, tail, r)
        where = (neg.chunk, neg.slot)

        def chunked(values: torch.Tensor) -> torch.Tensor:
            return values.new_zeros(chunks, neg.chunk_size, values.shape[-1]).index_put(where, values)

        def queries(rows: torch.Tensor) -> torch.Tensor:
            return chunked(torch.cat([rows.index_select(0, at_tail) - r, rows.index_select(0, at_head) + r]))

        def pool(rows: torch.Tensor) -> torch.Tensor:
            return rows.index_select(0, at_pool.flatten()).view(*at_pool.shape, -1)

        qi, ci = queries(x), pool(x)
        energy = torch.cdist(qi, ci, p=self.p_norm)
        if p is not None:
            qp, cp = queries(p), pool(p)
            m_query = chunked(self.has_profile[torch.cat([tail, head])].to(x.dtype).unsqueeze(-1))
            m_cand = self.has_profile[neg.pools].to(x.dtype).unsqueeze(1)  # a pool is one group
            energy = (
                energy
                + torch.cdist(qi, cp, p=self.p_norm) * m_cand
                + torch.cdist(qp, cp, p=self.p_norm) * m_cand * m_query
                + torch.cdist(qp, ci, p=self.p_norm) * m_query
            )
        per_request = energy.view(-1, energy.shape[-1]).index_select(0, neg.chunk * neg.chunk_size + neg.slot)
        return positive, torch.cat([per_request[:n], per_request[n:]], dim=1)

    def energy(self, head: torch.Tensor, rel: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        return self.energy_terms(head, rel, tail).total

    def entity_embeddings(self) -> torch.Tensor:
        """Final ``e`` per entity: mean of the interaction and projected profile embedding where a profile
        exists, else the interaction embedding. The mean (not the sum) keeps the translation property:
        ``u_i + r ≈ v_i`` and ``u_p + r ≈ v_p`` give ``e_u + r ≈ e_v``, which GLM's knowledge queries use."""
        e = self.entity.weight
        p = self.profile_embeddings()
        if p is None:
            return e
        return torch.where(self.has_profile.unsqueeze(-1), (e + p) / 2, e)

    @torch.no_grad()
    def renormalize_(self) -> None:
        """Project the interaction embeddings back into the ``max_norm`` ball (no-op without ``max_norm``)."""
        if self.max_norm is not None:
            self.entity.weight.mul_(ball_scale(self.entity.weight, self.max_norm))


class RowAdam:
    """Adam for an embedding table with sparse gradients, updating only the rows a step looked up: the lazy
    Adam of ``torch.optim.SparseAdam``, whose sparse-tensor arithmetic took 29 ms a step where these
    row-indexed updates took 21 ms (100k users, 8 corruptions, profiled); with ``index_select`` and
    ``index_copy_`` instead of advanced indexing, the update and renormalisation of 16k rows take ~12 ms
    instead of ~29 ms (one thread). Bias correction uses the global step, as SparseAdam does."""

    def __init__(
        self,
        weight: torch.Tensor,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        max_norm: float | None = None,
    ) -> None:
        self.weight, self.lr, self.betas, self.eps, self.max_norm = weight, lr, betas, eps, max_norm
        self.exp_avg = torch.zeros_like(weight)
        self.exp_avg_sq = torch.zeros_like(weight)
        self.steps = 0

    @torch.no_grad()
    def step(self) -> torch.Tensor:
        """Apply the pending gradient, clear it, project the touched rows back into the ``max_norm`` ball
        (in the same pass: one gather and one scatter of the rows less), and return them."""
        grad = self.weight.grad
        assert grad is not None and grad.is_sparse, "RowAdam needs the sparse gradient of an nn.Embedding"
        grad = grad.coalesce()
        rows, g = grad.indices()[0], grad.values()
        self.weight.grad = None
        self.steps += 1
        b1, b2 = self.betas
        # index_select/index_copy_ rather than advanced indexing: ~2.5x faster on CPU (rows are unique)
        m = self.exp_avg.index_select(0, rows).mul_(b1).add_(g, alpha=1 - b1)
        v = self.exp_avg_sq.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
        self.exp_avg.index_copy_(0, rows, m)
        self.exp_avg_sq.index_copy_(0, rows, v)
        denom = (v / (1 - b2**self.steps)).sqrt_().add_(self.eps)
        updated = self.weight.index_select(0, rows).addcdiv_(m, denom, value=-self.lr / (1 - b1**self.steps))
        if self.max_norm is not None:
            updated.mul_(ball_scale(updated, self.max_norm))
        self.weight.index_copy_(0, rows, updated)
        return rows


@dataclass
class PretrainResult:
    """Detached CPU outputs of the PM. ``profile_embeddings`` is None without profiles; rows of entities
    without a profile are meaningless there."""

    entity_embeddings: torch.Tensor  # [N, dim], the e_u used to initialise GLM
    relation_embeddings: torch.Tensor  # [R, dim]
    interaction_embeddings: torch.Tensor  # [N, dim]
    profile_embeddings: torch.Tensor | None  # [N, dim]
    has_profile: torch.Tensor  # [N] bool, all False when profiles are unused
    loss_history: list[float]  # mean Eq. 2 loss per epoch
    p_norm: int
    use_profiles: bool


def corrupt(
    head: torch.Tensor,
    tail: torch.Tensor,
    group: EntityGroups,
    generator: torch.Generator,
    head_share: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace, per triple, the head (probability ``head_share``) or else the tail by a random entity of its
    group."""
    use_head = torch.rand(head.shape, generator=generator) < head_share
    neg_head = torch.where(use_head, sample_same_group(head, group, generator), head)
    neg_tail = torch.where(use_head, tail, sample_same_group(tail, group, generator))
    return neg_head, neg_tail


@dataclass
class SharedCorruptions:
    """Batch negatives (PyTorch-BigGraph) for B positives. Each positive makes two corruption requests,
    its head (request ``i``) and its tail (request ``B + i``), as one uniform corruption does on average.
    Requests are split into chunks of at most ``chunk_size`` whose corrupted ends share a group, and all
    requests of a chunk are corrupted by the same ``M`` random entities of that group, its pool. A step then
    looks up ``2B + (2B/chunk_size)·M`` rows instead of ``B·(2 + K)``, and its distances are batched
    matrix products."""

    chunk: torch.Tensor  # [2B] the request's chunk
    slot: torch.Tensor  # [2B] its place in the chunk
    pools: torch.Tensor  # [chunks, M] entity ids
    chunk_size: int

    def to(self, device: str | torch.device) -> SharedCorruptions:
        return SharedCorruptions(
            self.chunk.to(device), self.slot.to(device), self.pools.to(device), self.chunk_size
        )


def shared_corruptions(
    head: torch.Tensor,
    tail: torch.Tensor,
    group: EntityGroups,
    size: int,
    chunk_size: int,
    generator: torch.Generator,
) -> SharedCorruptions:
    """Chunk the head and tail corruption requests by the group of the end they replace, and draw each
    chunk's pool of ``size`` entities from that group, with replacement (:meth:`EntityGroups.draw`)."""
    cg = group.group[torch.cat([head, tail])]
    order = torch.argsort(cg, stable=True)
    sorted_group = cg[order]
    first = torch.searchsorted(sorted_group, sorted_group)  # where each group starts in the sorted order
    rank = torch.arange(len(cg)) - first
    key = sorted_group * len(cg) + rank // chunk_size
    chunk_keys, chunk_sorted = torch.unique_consecutive(key, return_inverse=True)
    chunk, slot = torch.empty_like(cg), torch.empty_like(cg)
    chunk[order], slot[order] = chunk_sorted, rank % chunk_size
    pool_group = (chunk_keys // len(cg)).unsqueeze(-1).expand(-1, size)
    return SharedCorruptions(chunk, slot, group.draw(pool_group, generator), chunk_size)


# Steps per epoch are capped: a dense Adam step and renormalisation touch the whole entity table, so at
# 100k users 1,024-triple batches spent ~25 minutes per 20 epochs in the optimiser alone (lazy row Adam,
# `sparse`, touches only the looked-up rows, but keeps the cap so that both see the same batches). Small
# graphs keep the given batch size (Gift_Cards: ~20k triples → 1,024).
MAX_STEPS_PER_EPOCH = 256


def epoch_batch_size(n: int, batch_size: int, max_steps: int | None = MAX_STEPS_PER_EPOCH) -> int:
    """``batch_size``, raised where needed so that an epoch over ``n`` examples takes at most ``max_steps``."""
    if max_steps is None:
        return batch_size
    return max(batch_size, math.ceil(n / max_steps))


def train_pretrained(
    triples: KGTriples,
    *,
    dim: int = 64,
    epochs: int = 100,
    lr: float = 0.01,
    margin: float = 1.0,
    margin_per_term: bool = True,
    batch_size: int = 1024,
    num_negatives: int = 1,
    adversarial: float = 0.0,
    head_corruption: float = 0.5,
    negative_power: float = 0.0,
    shared_negatives: bool = False,
    negative_chunk: int = 64,
    sparse: bool = False,
    p_norm: int = 2,
    seed: int = 0,
    use_profiles: bool = True,
    max_norm: float | None = 1.0,
    max_steps_per_epoch: int | None = MAX_STEPS_PER_EPOCH,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> PretrainResult:
    """Train the PM with Adam on Eq. 2; ``progress(epoch, mean_loss)`` is called after each epoch (1-based).

    ``batch_size`` grows where an epoch would otherwise take more than ``max_steps_per_epoch`` steps.
    ``num_negatives`` corruptions per positive, weighted by ``adversarial`` (see :func:`margin_ranking_loss`),
    each of the head with probability ``head_corruption`` and else of the tail, by an entity of its group
    drawn with probability ∝ ``(degree + 1)^negative_power`` (:func:`degree_weights`; 0: uniformly).
    ``shared_negatives``: half of them of the head and half of the tail, shared by chunks of
    ``negative_chunk`` positives (:class:`SharedCorruptions`) instead of drawn per positive.

    ``sparse``: the entity table gets sparse gradients and :class:`RowAdam` (lazy Adam: a row's moments
    and value change only in steps whose batch touches it), and only the touched rows are renormalised.
    Dense Adam moves every row by its momentum, so each step costs the whole table: at 100k users and one
    corruption an epoch took 13–15 s dense and 6–7 s sparse, for the same validation AP on Gift_Cards.

    Reproducible for a given ``seed`` on CPU: ``torch.manual_seed`` fixes initialisation, a private
    ``torch.Generator`` drives shuffling and negative sampling (on the CPU, then moved to ``device``).
    """
    if triples.num_triples == 0:
        raise ValueError("no triples to train on")
    if num_negatives < 1 or negative_chunk < 1:
        raise ValueError(f"num_negatives ({num_negatives}) and negative_chunk ({negative_chunk}) must be ≥ 1")
    if not 0.0 <= head_corruption <= 1.0:
        raise ValueError(f"head_corruption ({head_corruption}) must lie in [0, 1]")
    if not 0.0 <= negative_power < math.inf:
        raise ValueError(f"negative_power ({negative_power}) must be a finite number ≥ 0")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = PretrainedModel(
        triples.num_entities,
        triples.num_relations,
        dim,
        profile=triples.profile,
        has_profile=triples.has_profile,
        p_norm=p_norm,
        use_profiles=use_profiles,
        max_norm=max_norm,
        sparse=sparse,
    ).to(device)
    model.renormalize_()
    # Negatives are drawn within (type, has-profile) groups so positive and negative use the same terms.
    group = EntityGroups(
        triples.entity_type * 2 + model.has_profile.cpu().long(), degree_weights(triples, negative_power)
    )
    rows = RowAdam(model.entity.weight, lr, max_norm=max_norm) if sparse else None
    opt = torch.optim.Adam(
        [p for p in model.parameters() if rows is None or p is not model.entity.weight], lr=lr
    )
    batch_size = epoch_batch_size(triples.num_triples, batch_size, max_steps_per_epoch)
    history: list[float] = []
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(triples.num_triples, generator=gen)
        total = 0.0
        for batch in perm.split(batch_size):
            h, r, t = triples.head[batch], triples.rel[batch], triples.tail[batch]
            n = len(h)
            if shared_negatives:
                # K corruptions: K/2 of the head and K/2 of the tail, rounded up
                shared = shared_corruptions(h, t, group, -(-num_negatives // 2), negative_chunk, gen)
                shared, h, r, t = shared.to(device), h.to(device), r.to(device), t.to(device)
                terms, neg = model.shared_negative_energies(h, r, t, shared)
                pos, count = terms.total, terms.count
            else:
                nh, nt = corrupt(
                    h.repeat(num_negatives), t.repeat(num_negatives), group, gen, head_corruption
                )
                h, r, t, nh, nt = (x.to(device) for x in (h, r, t, nh, nt))
                # positives and their corruptions in one call, so each entity is looked up once per step
                terms = model.energy_terms(
                    torch.cat([h, nh]), r.repeat(num_negatives + 1), torch.cat([t, nt])
                )
                energy = terms.total
                pos, neg, count = energy[:n], energy[n:].view(num_negatives, n).T, terms.count[:n]
            loss = margin_ranking_loss(pos, neg, margin * count if margin_per_term else margin, adversarial)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if rows is None:
                model.renormalize_()
            else:
                rows.step()  # renormalises the rows it updates
            total += loss.item() * len(batch)
        history.append(total / triples.num_triples)
        if progress is not None:
            progress(epoch, history[-1])
    with torch.no_grad():
        prof = model.profile_embeddings()
        return PretrainResult(
            entity_embeddings=model.entity_embeddings().detach().cpu(),
            relation_embeddings=model.relation.weight.detach().cpu().clone(),
            interaction_embeddings=model.entity.weight.detach().cpu().clone(),
            profile_embeddings=None if prof is None else prof.detach().cpu(),
            has_profile=model.has_profile.cpu().clone(),
            loss_history=history,
            p_norm=p_norm,
            use_profiles=model.profile_proj is not None,
        )
