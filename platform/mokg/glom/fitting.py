"""Fitting GLoM's models (§3.4–3.7) in memory: :class:`~mokg.glom.data.KGData` in,
:class:`~mokg.glom.data.Embeddings` out, with no graph access, so the evaluation can train every variant on
a training split without touching the graph.

:func:`kg_triples` builds the typed triples of §3.5 (with the §3.4 user–user similarity), :func:`fit_pm`
trains the pre-trained model (§3.5), :func:`fit_glm` the graph learning model (§3.6–3.7), and :func:`fit`
runs both.

Decisions:

* Reviews become ``LIKES`` when their polarity is ≥ 0 and ``DISLIKES`` otherwise ("split by polarity"); the
  paper's item-relative like flag is stored on the review for analysts. Without polarity (ablation) every
  review is one ``REVIEWED`` relation.
* Similarity edges used for training are computed from the training reviews themselves, never read back
  from the graph, so held-out reviews cannot leak through them.
* Entity ids are namespaced by type (``u:``, ``i:``, ``c:``, ``s:``) so a user id can never collide with an ASIN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import torch

from mokg.glom.data import Embeddings, KGData, Reviews, TrainConfig
from mokg.glom.glm import GLMResult, train_glm, with_reverse_edges
from mokg.glom.inductive import ModelState
from mokg.glom.pretrain import PretrainResult, train_pretrained
from mokg.glom.triples import KGTriples, build_triples
from mokg.polarity import SimilarityEdges, candidate_pairs, user_similarity
from mokg.progress import ProgressFactory, no_progress

# the §3.4 edges of a set of reviews: the sorted user ids, and the edges between their positions
Similar = tuple[list[str], SimilarityEdges]


def _coo(reviews: Reviews) -> tuple[list[str], list[int], list[int], np.ndarray, int]:
    """The reviews as Eq. 1's input: sorted user ids, user and item positions, polarity, item count."""
    users = sorted(set(reviews.user))
    items = sorted(set(reviews.item))
    u_idx = {u: k for k, u in enumerate(users)}
    i_idx = {i: k for k, i in enumerate(items)}
    pol = np.where(np.isnan(reviews.polarity), (reviews.rating - 3.0) / 2.0, reviews.polarity)
    return users, [u_idx[u] for u in reviews.user], [i_idx[i] for i in reviews.item], pol, len(items)


def similarity(reviews: Reviews, cfg: TrainConfig) -> Similar:
    """§3.4 over the given reviews' polarity (ratings stand in where polarity is missing), with ``cfg``'s
    bounds (``TrainConfig.from_settings`` gives the settings' ones)."""
    users, u, i, pol, n_items = _coo(reviews)
    edges = user_similarity(
        u,
        i,
        pol,
        len(users),
        n_items,
        t_sim=cfg.t_sim,
        min_co_rated=cfg.min_co_rated,
        top_k=cfg.sim_top_k or None,
        max_item_raters=cfg.sim_max_item_raters or None,
    )
    return users, edges


def similarity_candidates(reviews: Reviews, cfg: TrainConfig, of: Sequence[str]) -> Similar:
    """Every §3.4 candidate pair of the users ``of`` (before ``top_k``), from reviews that cover every
    item they rated: :func:`mokg.polarity.candidate_pairs`."""
    users, u, i, pol, n_items = _coo(reviews)
    at = {w: k for k, w in enumerate(users)}
    edges = candidate_pairs(
        u,
        i,
        pol,
        len(users),
        n_items,
        [at[w] for w in of if w in at],
        t_sim=cfg.t_sim,
        min_co_rated=cfg.min_co_rated,
        max_item_raters=cfg.sim_max_item_raters or None,
    )
    return users, edges


def review_relation(polarity: float | None, use_polarity: bool = True) -> str:
    """The relation a review becomes: LIKES / DISLIKES by the polarity's sign (missing or NaN: LIKES), or
    one REVIEWED without polarity (ablation). Training, streaming and the benches all read it here."""
    if not use_polarity:
        return "REVIEWED"
    return "DISLIKES" if polarity is not None and polarity < 0 else "LIKES"


def kg_triples(
    kg: KGData, cfg: TrainConfig, similar: Similar | None = None
) -> tuple[KGTriples, list[str], int]:
    """The typed triples of §3.5 for ``cfg``'s ablations; also the user ids and the SIMILAR_TO count.

    ``similar``: the §3.4 edges already computed from exactly ``kg.reviews`` with ``cfg``'s bounds (the
    training pipeline's similarity stage), so that they are not computed twice (up to ~90 s at 100k users)."""
    users = sorted(set(kg.reviews.user))
    entities = [(f"u:{u}", "user") for u in users] + [(f"i:{i}", "item") for i in kg.items]
    entities += [(t, "category" if t.startswith("c:") else "store") for _, _, t in kg.supkg if t[0] in "cs"]
    triples: list[tuple[str, str, str]] = []
    for u, i, p in zip(kg.reviews.user, kg.reviews.item, kg.reviews.polarity, strict=True):
        triples.append((f"u:{u}", review_relation(p, cfg.use_polarity), f"i:{i}"))
    n_similar = 0
    if cfg.use_similarity:
        sim_users, edges = similar if similar is not None else similarity(kg.reviews, cfg)
        triples += [
            (f"u:{sim_users[a]}", "SIMILAR_TO", f"u:{sim_users[b]}")
            for a, b in zip(edges.src, edges.dst, strict=True)
        ]
        if cfg.sim_both_ways:
            triples += [
                (f"u:{sim_users[b]}", "SIMILAR_TO", f"u:{sim_users[a]}")
                for a, b in zip(edges.src, edges.dst, strict=True)
            ]
        n_similar = len(edges)
    triples += [(f"i:{a}", rel, t) for a, rel, t in kg.supkg]
    known = {e for e, _ in entities}
    profiles = {k: torch.from_numpy(v) for k, v in kg.profiles.items() if cfg.use_profiles and k in known}
    return build_triples(entities, triples, profiles=profiles or None), users, n_similar


def fit_pm(
    kgt: KGTriples, cfg: TrainConfig, progress: ProgressFactory = no_progress, device: str = "cpu"
) -> PretrainResult:
    cfg = cfg.sized_for(kgt.num_triples)
    advance = progress("PM epochs", cfg.pm_epochs)
    return train_pretrained(
        kgt,
        dim=cfg.dim,
        epochs=cfg.pm_epochs,
        lr=cfg.lr_pm,
        margin=cfg.margin,
        num_negatives=cfg.pm_negatives,
        adversarial=cfg.pm_adversarial,
        head_corruption=cfg.pm_head_corruption,
        negative_power=cfg.pm_negative_power,
        shared_negatives=cfg.pm_shared_negatives,
        negative_chunk=cfg.pm_negative_chunk,
        sparse=cfg.pm_sparse,
        seed=cfg.seed,
        use_profiles=cfg.use_profiles and kgt.has_profile is not None,
        device=device,
        progress=lambda epoch, loss: advance(epoch),
    )


SCRATCH_GLM_EPOCHS = 50


def fit_glm(
    kgt: KGTriples,
    pm: PretrainResult | None,
    cfg: TrainConfig,
    progress: ProgressFactory = no_progress,
    device: str = "cpu",
) -> GLMResult:
    """GLM from the PM (or, for the "w/o PM" ablation, from trained random embeddings: there the GLM must
    learn the embeddings themselves, so it trains for at least :data:`SCRATCH_GLM_EPOCHS`)."""
    epochs = cfg.glm_epochs if cfg.use_pretrain else max(cfg.glm_epochs, SCRATCH_GLM_EPOCHS)
    advance = progress(f"GLM-{cfg.aggregator} epochs", epochs)
    return train_glm(
        kgt,
        pm if cfg.use_pretrain else None,
        aggregator=cfg.aggregator,
        layers=cfg.layers,
        epochs=epochs,
        lr=cfg.lr_glm,
        margin=cfg.margin,
        num_negatives=cfg.glm_num_negatives,
        adversarial=cfg.glm_adversarial,
        seed=cfg.seed,
        dim=cfg.dim,
        train_embeddings=not cfg.use_pretrain,
        bias=cfg.glm_bias,
        combine=cfg.glm_combine,  # type: ignore[arg-type]
        norm=cfg.glm_norm,  # type: ignore[arg-type]
        negatives=cfg.glm_negatives,  # type: ignore[arg-type]
        relational=cfg.glm_relational,
        user_pairs=cfg.glm_user_pairs,
        message_share=cfg.glm_share,
        device=device,
        progress=lambda epoch, loss: advance(epoch),
    )


def rows_of(kgt: KGTriples, keys: Sequence[str]) -> torch.Tensor:
    index = {e: k for k, e in enumerate(kgt.entity_ids or [])}
    return torch.tensor([index[k] for k in keys], dtype=torch.long)


def fit(
    kg: KGData,
    cfg: TrainConfig,
    progress: ProgressFactory = no_progress,
    device: str = "cpu",
    similar: Similar | None = None,
) -> Embeddings:
    """PM then GLM on ``kg`` (pure: no graph access) on ``device``. Reproducible for ``cfg.seed`` on the CPU.
    ``similar`` as in :func:`kg_triples`."""
    torch.manual_seed(cfg.seed)
    kgt, users, n_similar = kg_triples(kg, cfg, similar)
    cfg = cfg.sized_for(kgt.num_triples)
    pm = fit_pm(kgt, cfg, progress, device)
    glm = fit_glm(kgt, pm, cfg, progress, device)
    u_rows = rows_of(kgt, [f"u:{u}" for u in users])
    i_rows = rows_of(kgt, [f"i:{i}" for i in kg.items])
    return Embeddings(
        version=cfg.version,
        user_ids=users,
        item_ids=list(kg.items),
        user=glm.node_embeddings[u_rows].numpy(),
        item=glm.node_embeddings[i_rows].numpy(),
        pm_user=pm.entity_embeddings[u_rows].numpy(),
        pm_item=pm.entity_embeddings[i_rows].numpy(),
        pm_loss=pm.loss_history,
        glm_loss=glm.loss_history,
        n_similar=n_similar,
        config=cfg,
        state=model_state(kgt, glm, cfg),
    )


def model_state(kgt: KGTriples, glm: GLMResult, cfg: TrainConfig) -> ModelState:
    edge_index, edge_type = with_reverse_edges(kgt.head, kgt.rel, kgt.tail, kgt.num_relations)
    return ModelState(
        version=cfg.version,
        config=asdict(cfg),
        entity_ids=list(kgt.entity_ids or []),
        relation_names=list(kgt.relation_names),
        glm=glm.state,
        edge_index=edge_index,
        edge_type=edge_type,
    )
