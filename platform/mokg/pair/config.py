"""The configuration of a PAIR mining run: :class:`MiningConfig`, sent with every task and recorded on the run.

Decisions where the paper is vague (its *Experimental Configuration* queries the LLM three times per prompt):

* n = 3 samples per prompt (as in the paper) at temperature 0.8 with a fixed seed per sample index, so a
  re-run sends identical requests and the LLM cache answers them: re-mining is cheap and reproducible.
* Ablations of Table I: ``aggregation=False`` keeps the union of the first sample of every step (no votes,
  no scorer); ``progressive=False`` is one κ_D+κ_S step; ``relation_filter=False`` skips the selection
  prompt and expands every relation of R_s.
* w = 0.5 and threshold 0.55: a target needs consensus *and* plausibility — one vote of nine needs a
  plausibility ≥ 0.99, two ≥ 0.88, three ≥ 0.77 — and even a full consensus is vetoed by a plausibility
  under 0.1. With SmolLM2-135M this keeps about 2% of the distinct candidates (see ``mokg pair eval``).
* ``relations`` narrows R_s (for example to one relation in tests).
* ``source_pass=True`` asks one prompt per source instead of a selection and prompts per relation: the
  relations of R_s that apply and the targets of each, in one JSON answer
  (:func:`~mokg.pair.prompts.build_source_pass_prompt`). R_F is the relations a majority of the ``n`` samples
  name (every relation of R_s without ``relation_filter``), capped by ``max_relations`` as a selection is.
* ``miner="lightpair"`` mines with a LightPAIR adapter (``adapter``: its version) through the same client and
  endpoint, in one pass (:data:`LIGHTPAIR_PASS`): one greedy sample of the source-pass prompt the student was
  distilled on, then the same aggregation (the scorer's veto), resolution and writes as PAIR. Relation
  bounding is PAIR's: R_s from the schema (the answer's relations are an enum of it), R_F what the answer names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from typing import Any

from mokg.pair.aggregation import AggregationConfig
from mokg.pair.schema import RelationSchema


@cache
def _default_schema() -> RelationSchema:
    return RelationSchema.load()


MINERS = ("pair", "lightpair")
LIGHTPAIR_PASS: dict[str, Any] = {
    "n_samples": 1,
    "temperature": 0.0,
    "progressive": False,
    "source_pass": True,
    "max_tokens": 256,  # a cap for several relations' lists in one answer; the student stops well before it
}
"""What ``miner="lightpair"`` changes unless told otherwise: one greedy sample of the source-pass prompt
(``relation_filter`` stays on: with one sample, R_F is the relations that sample answered)."""


@dataclass(frozen=True)
class MiningConfig:
    """Everything that changes what is mined. Sent with every task (JSON), recorded on the run."""

    n_samples: int = 3
    temperature: float = 0.8
    max_tokens: int = 96
    max_targets: int = 5
    max_relations: int = 0  # 0: no cap on R_F
    relations: tuple[str, ...] = ()  # restrict R_s to these relation ids (empty: the whole candidate set)
    max_facts: int = 12
    max_target_words: int = 6
    relation_filter: bool = True
    progressive: bool = True
    source_pass: bool = False  # one prompt a source: relations and targets in one answer (LightPAIR)
    aggregation: bool = True
    use_scorer: bool = True
    type_fit: bool = True  # multiply the plausibility by the κ_D type fit of the target name
    agg_weight: float = 0.5
    agg_threshold: float = 0.55
    link_threshold: float = 0.85
    holdout_share: float = 0.0  # evaluation only: share of item-item pairs hidden from κ_S
    seed: int = 7
    scorer_version: str = ""  # the artifact the enqueuer chose; "" = vote share alone
    miner: str = "pair"  # "pair" or "lightpair"
    adapter: str = (
        ""  # LightPAIR: the adapter version the enqueuer chose (provenance; the endpoint must serve it)
    )

    def __post_init__(self) -> None:
        if self.n_samples < 1 or self.max_targets < 1 or self.max_tokens < 8:
            raise ValueError("n_samples and max_targets must be at least 1, max_tokens at least 8")
        unknown = sorted(set(self.relations) - set(_default_schema().relations)) if self.relations else []
        if unknown:
            raise ValueError(f"unknown relations {unknown}")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError(f"holdout_share must lie in [0, 1), got {self.holdout_share}")
        AggregationConfig(self.agg_weight, self.agg_threshold)  # validates both
        if self.miner not in MINERS:
            raise ValueError(f"miner {self.miner!r}: expected one of {list(MINERS)}")
        if (self.miner == "lightpair") != bool(self.adapter):
            raise ValueError("a LightPAIR run names its adapter version, and only a LightPAIR run does")
        if self.miner == "lightpair" and not self.source_pass:  # e.g. a task queued before the source pass
            raise ValueError(
                "a LightPAIR run mines one prompt a source (source_pass): its adapters learned that"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MiningConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown mining settings {unknown}")
        values = dict(data)
        values["relations"] = tuple(values.get("relations", ()))  # JSON gives a list
        return cls(**values)

    def with_(self, **changes: Any) -> MiningConfig:
        return replace(self, **changes)
