"""PM and the GLoM variants under the same ``fit(train)`` / ``score(task)`` protocol as every baseline.

The evaluation never reaches into the training pipeline: it builds a :class:`GLoMModel` like any baseline and
hands it the split's :class:`~mokg.lookalike.baselines.TrainData`. The model keeps the reviews that are
training interactions (so every held-out edge is gone), rebuilds the users' profile vectors from their
training items (:func:`leak_free_profiles`), and trains PM, then the GLM unless it is the PM alone.

Fits that only differ in GLM settings share one PM through a :class:`PMCache` (PM, GLoM-Mean, -Attn1 and
-Attn2 of one split and one PM configuration train the PM once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mokg.glom.data import KGData, TrainConfig
from mokg.glom.fitting import fit_glm, fit_pm, kg_triples, rows_of
from mokg.lookalike.baselines import EmbeddingBaseline, FloatArray, TrainData
from mokg.lookalike.scoring import Method
from mokg.vectors import unit_rows

# the TrainConfig fields that decide the triples, and those that decide the PM on them
_TRIPLE_FIELDS = (
    "use_profiles",
    "use_polarity",
    "use_similarity",
    "t_sim",
    "min_co_rated",
    "sim_top_k",
    "sim_max_item_raters",
    "sim_both_ways",
)
PM_FIELDS = (
    *_TRIPLE_FIELDS,
    "dim",
    "pm_epochs",
    "lr_pm",
    "margin",
    "pm_negatives",
    "pm_adversarial",
    "pm_head_corruption",
    "pm_negative_power",
    "pm_shared_negatives",
    "pm_negative_chunk",
    "pm_large_graph_triples",  # fit_pm sizes the PM for the graph by it
    "pm_sparse",
    "seed",
)


@dataclass(frozen=True)
class ReviewIndex:
    """The protocol's integer ids: users and reviewed items sorted, and each review as (user, item) ids."""

    users: list[str]
    items: list[str]
    u_of: dict[str, int]
    u_idx: NDArray[np.int64]
    i_idx: NDArray[np.int64]

    @classmethod
    def of(cls, kg: KGData) -> ReviewIndex:
        users = sorted(set(kg.reviews.user))
        items = sorted(set(kg.reviews.item))
        u_of = {u: k for k, u in enumerate(users)}
        i_of = {i: k for k, i in enumerate(items)}
        u_idx = np.array([u_of[u] for u in kg.reviews.user], dtype=np.int64)
        i_idx = np.array([i_of[i] for i in kg.reviews.item], dtype=np.int64)
        return cls(users, items, u_of, u_idx, i_idx)

    def user_matrix(self, user_ids: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """A model's user vectors (rows aligned with ``user_ids``) in protocol order; zeros for users the
        model does not know."""
        out = np.zeros((len(self.users), vectors.shape[1]))
        rows = [(self.u_of[u], k) for k, u in enumerate(user_ids) if u in self.u_of]
        out[[a for a, _ in rows]] = vectors[[b for _, b in rows]]
        return out


def mean_profiles(groups: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Each key's profile vector: the mean of its vectors, scaled to unit length (float32)."""
    keys = list(groups)
    means = unit_rows([np.mean(groups[k], axis=0) for k in keys], dtype=np.float32)
    return dict(zip(keys, means, strict=True))


def leak_free_profiles(kg: KGData) -> KGData:
    """User profile vectors rebuilt as the mean of their training items' profile vectors: an LLM user profile
    is written from every reviewed item, held-out ones included, while item profiles describe items only."""
    if not kg.profiles:
        return kg
    profiles = {k: v for k, v in kg.profiles.items() if k.startswith("i:")}
    by_user: dict[str, list[np.ndarray]] = {}
    for u, i in zip(kg.reviews.user, kg.reviews.item, strict=True):
        vec = profiles.get(f"i:{i}")
        if vec is not None:
            by_user.setdefault(f"u:{u}", []).append(vec)
    return replace(kg, profiles=profiles | mean_profiles(by_user))


@dataclass
class PMCache:
    """Training graphs, triples and PMs already built, keyed by the training interactions and the settings
    that decide them. One cache per evaluation; it only ever holds fits of the same ``KGData``."""

    graphs: dict[bytes, KGData] = field(default_factory=dict)
    triples: dict[tuple[bytes, tuple[Any, ...]], Any] = field(default_factory=dict)
    pms: dict[tuple[bytes, tuple[Any, ...]], Any] = field(default_factory=dict)


class GLoMModel(EmbeddingBaseline):
    """PM (``pm_only``) or PM + GLM of ``config`` on the training interactions of a split of ``kg``."""

    def __init__(
        self,
        kg: KGData,
        index: ReviewIndex,
        config: TrainConfig,
        *,
        pm_only: bool = False,
        name: str = "GLoM",
        cache: PMCache | None = None,
        method: Method = "centroid",
    ) -> None:
        super().__init__(method=method)
        self.kg, self.index, self.config, self.pm_only, self.name = kg, index, config, pm_only, name
        self.cache = cache if cache is not None else PMCache()

    def _train_graph(self, train: TrainData) -> tuple[bytes, KGData]:
        keep = np.asarray(train.interactions[self.index.u_idx, self.index.i_idx]).ravel() > 0
        key = np.packbits(keep).tobytes()
        if key not in self.cache.graphs:
            self.cache.graphs[key] = leak_free_profiles(replace(self.kg, reviews=self.kg.reviews.mask(keep)))
        return key, self.cache.graphs[key]

    def _train(self, train: TrainData) -> FloatArray:
        cfg = self.config
        key, graph = self._train_graph(train)
        t_key = (key, tuple(getattr(cfg, f) for f in _TRIPLE_FIELDS))
        if t_key not in self.cache.triples:
            self.cache.triples[t_key] = kg_triples(graph, cfg)
        kgt, users, _ = self.cache.triples[t_key]
        p_key = (key, tuple(getattr(cfg, f) for f in PM_FIELDS))
        if p_key not in self.cache.pms:
            self.cache.pms[p_key] = fit_pm(kgt, cfg)
        pm = self.cache.pms[p_key]
        nodes = pm.entity_embeddings if self.pm_only else fit_glm(kgt, pm, cfg).node_embeddings
        vectors = nodes[rows_of(kgt, [f"u:{u}" for u in users])].numpy()
        return self.index.user_matrix(users, vectors)
