"""What GLoM trains on and what it learns, with no graph access: the training configuration
(:class:`TrainConfig`, whose hash names the model version), the reviews and knowledge graph the models learn
from (:class:`KGData`, read from the graph by :func:`mokg.glom.stages.load_kg` or built from files by the
benchmarks) and the learned :class:`Embeddings`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mokg.config import Settings
from mokg.glom.aggregators import Aggregator

if TYPE_CHECKING:
    from mokg.glom.inductive import ModelState


# The PM on a large graph: batch negatives (16, shared in chunks of 64) for 50 epochs. At 100k users an
# epoch costs 2.9-3.6 s against 7.8 s for 8 corruptions per positive, and on both shared sets their
# validation AP under the GLM is within split noise of the per-positive default (README, "Large graphs")
# Batch negatives split a positive's corruptions half head, half tail, so the large-graph PM records that.
LARGE_GRAPH_PM: dict[str, Any] = {
    "pm_shared_negatives": True,
    "pm_negatives": 16,
    "pm_epochs": 50,
    "pm_head_corruption": 0.5,
}
# the options that switch it: one of them given by hand is the PM asked for (TrainConfig.from_settings)
PM_OPTIONS = frozenset(LARGE_GRAPH_PM)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the learned embeddings; its hash names the model version.

    Where a default was measured, its comment names the section of ``docs/lookalike-evaluation.md``
    ("the log") or of the README that holds the measurement."""

    aggregator: Aggregator = "attn1"
    dim: int = 64
    layers: int = 1  # 2 lowered validation AP on both shared sets (log, "The GLM stage")
    # 30: validation AP of 100 epochs within noise on both shared sets, at 30% of the cost (log,
    # "Training length")
    pm_epochs: int = 30
    # 0: the GLM smooths the PM through its knowledge queries without Eq. 9 training, which lowered
    # validation AP on both shared sets (log, "The GLM stage"); `mokg eval` tunes it in {0, 1, 10, 50}
    glm_epochs: int = 0
    lr_pm: float = 0.01
    lr_glm: float = 0.005
    margin: float = 1.0
    # 8 corruptions per positive, self-adversarially weighted: PM validation AP +0.024 (Gift_Cards) and
    # +0.015 (All_Beauty) over one uniform corruption (log, "The PM's negatives")
    pm_negatives: int = 8
    pm_adversarial: float = 4.0
    # share of corruptions that replace the head (a review triple's user) rather than the tail: asking the PM
    # which users go with an item is lookalike's own question (log, "Which end the PM corrupts");
    # per-positive corruptions only (batch negatives split half and half)
    pm_head_corruption: float = 0.7
    # corruptions drawn ∝ (degree + 1)^power within their group; 0: uniformly. Power 1 led by 0.02-0.04 on
    # the shared sets' few validation items, by 0.000-0.009 (within 1.5 standard errors) on 240, 72 and 180
    # tasks built inside the training reviews of Gift_Cards, All_Beauty and MovieLens (log, "Stop 49")
    pm_negative_power: float = 0.0
    # batch negatives: K/2 head and K/2 tail corruptions shared by chunks of positives; ~3.4x faster PM
    # epochs at 100k users, validation AP within noise of per-positive corruptions (log, "Batch
    # negatives"), so off by default below pm_large_graph_triples
    pm_shared_negatives: bool = False
    pm_negative_chunk: int = 64
    # from this many training triples on, the PM trains as LARGE_GRAPH_PM says (0: never); below it the
    # per-positive corruptions above (README, "Large graphs")
    pm_large_graph_triples: int = 200_000
    pm_sparse: bool = True  # lazy row-wise Adam: same AP, ~2x faster steps at 100k users
    glm_num_negatives: int = 1
    glm_adversarial: float = 0.0
    glm_bias: bool = True
    glm_combine: str = "last"
    glm_norm: str = "none"
    glm_negatives: str = "all"
    glm_relational: bool = True  # Eq. 9 as the PM's translation ||h_U + r − h_I|| (log, "The GLM stage")
    glm_user_pairs: bool = False
    # β, the message's share of each GLM layer's input (½: Eq. 8's h + m). On validation tasks the best
    # share fell as the PM got better trained, ¼ to ¾ across five sets, so `mokg eval` tunes it in
    # {¼, ½, ¾} (log, "Stop 55" and "Stop 56")
    glm_share: float = 0.5
    use_profiles: bool = True
    use_polarity: bool = True
    use_similarity: bool = True
    use_pretrain: bool = True
    t_sim: float = 0.5
    # 10: Eq. 1 on fewer co-rated items is mostly the ±1 of two points, and those edges lowered validation AP;
    # of 2, 3, 5 and 10, 10 was best or level on all five real sets (log, "Stop 54")
    min_co_rated: int = 10
    sim_top_k: int = 20  # 0: no bound
    sim_max_item_raters: int = 1000  # 0: no bound
    # SIMILAR_TO trained both ways (TransE's offset then pulls similar users together): lowered
    # validation AP on both shared sets (log, "Why the SIMILAR_TO edges do not help here")
    sim_both_ways: bool = False
    seed: int = 7

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> TrainConfig:
        """The similarity bounds and the seed from the settings (``MOKG_SIM_*``, ``MOKG_SEED``), then
        ``overrides`` (a ``None`` override keeps the settings' value). A PM option among them
        (``PM_OPTIONS``) is the PM asked for whatever the graph's size: the large-graph switch is off unless
        ``pm_large_graph_triples`` is given too. The CLI, the ``train_glom`` task and the benches all build
        their configuration here, so they agree on that."""
        base = {
            "t_sim": settings.sim_threshold,
            "min_co_rated": settings.sim_min_co_rated,
            "sim_top_k": settings.sim_top_k,
            "sim_max_item_raters": settings.sim_max_item_raters,
            "seed": settings.seed,
        }
        given = {k: v for k, v in overrides.items() if v is not None}
        if given.keys() & PM_OPTIONS and "pm_large_graph_triples" not in given:
            given["pm_large_graph_triples"] = 0
        return cls(**base | given)

    @classmethod
    def changes(cls, text: str) -> dict[str, Any]:
        """``key=value,...`` (the benchmarks' ``--variant`` and ``--train-config``) as typed field changes."""
        types = {f.name: str(f.type) for f in fields(cls)}
        change: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = (x.strip() for x in part.partition("="))
            if key not in types:
                raise ValueError(f"{key!r} is not a TrainConfig field ({', '.join(types)})")
            kind = types[key]
            if kind == "bool":
                change[key] = value.lower() in ("1", "true", "yes")
            else:
                change[key] = int(value) if kind == "int" else float(value) if kind == "float" else value
        return change

    def sized_for(self, num_triples: int) -> TrainConfig:
        """The configuration that trains on ``num_triples`` triples: this one, or on a large graph (at
        least ``pm_large_graph_triples``) the PM with :data:`LARGE_GRAPH_PM`, unless it already shares
        its negatives."""
        large = self.pm_large_graph_triples and num_triples >= self.pm_large_graph_triples
        return replace(self, **LARGE_GRAPH_PM) if large and not self.pm_shared_negatives else self

    @property
    def similarity_bounds(self) -> tuple[float, int, int, int]:
        """What decides the §3.4 edges: two configs with the same bounds have the same SIMILAR_TO."""
        return (self.t_sim, self.min_co_rated, self.sim_top_k, self.sim_max_item_raters)

    @property
    def version(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"glom-{self.aggregator}-d{self.dim}-{digest}"


@dataclass
class Reviews:
    """One row per review; ``polarity`` is NaN where it was not computed."""

    user: list[str]
    item: list[str]
    rating: np.ndarray
    polarity: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def mask(self, keep: np.ndarray) -> Reviews:
        idx = np.flatnonzero(keep)
        return Reviews(
            [self.user[i] for i in idx], [self.item[i] for i in idx], self.rating[idx], self.polarity[idx]
        )


@dataclass
class KGData:
    """What the models learn from, read from the graph once."""

    reviews: Reviews
    items: list[str]  # every item ASIN, reviewed or not
    supkg: list[tuple[str, str, str]]  # (asin, IN_CATEGORY|SOLD_BY|ALSO_BOUGHT, namespaced target)
    profiles: dict[str, np.ndarray] = field(default_factory=dict)  # "u:ID" / "i:ASIN" -> text embedding

    def without_reviews(self, pairs: set[tuple[str, str]]) -> KGData:
        """The same graph minus every review of the given (user, item) pairs (held-out edges)."""
        keep = np.array(
            [(u, i) not in pairs for u, i in zip(self.reviews.user, self.reviews.item, strict=True)]
        )
        return replace(self, reviews=self.reviews.mask(keep))


@dataclass
class Embeddings:
    version: str
    user_ids: list[str]
    item_ids: list[str]
    user: np.ndarray  # GLM output (the lookalike embedding)
    item: np.ndarray
    pm_user: np.ndarray
    pm_item: np.ndarray
    pm_loss: list[float]
    glm_loss: list[float]
    n_similar: int
    config: TrainConfig  # as trained: sized for the graph (TrainConfig.sized_for)
    state: ModelState | None = None  # what embeds new nodes without a retrain (mokg.glom.inductive)
