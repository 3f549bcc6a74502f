"""What PAIR mining produces: the relations selected, the candidates kept and filtered per relation, the
resolved targets, LLM usage, and the outcome of one worker task; and how they become graph writes and the
``pair_*`` summary stored on the source.

How many candidates the votes and the plausibility each removed is counted (:class:`FilterCounts`) and
stored on the source and in the eval report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mokg.llm.client import ChatResult
from mokg.pair.aggregation import AggregationConfig, AggregationResult, Candidate, FilterReason
from mokg.pair.resolution import MatchKind
from mokg.pair.store import SourceContext, TripleWrite


@dataclass
class Usage:
    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, results: Sequence[ChatResult]) -> None:
        self.calls += len(results)
        self.cached += sum(r.cached for r in results)
        self.prompt_tokens += sum(r.prompt_tokens for r in results)
        self.completion_tokens += sum(r.completion_tokens for r in results)


@dataclass(frozen=True)
class FilterCounts:
    """What happened to the candidate targets: the aggregation's and the scorer's share of the filtering."""

    candidates: int = 0  # distinct (normalised) targets generated
    kept: int = 0  # written to the graph
    malformed: int = (
        0  # names that were not a short name, and samples that were not the requested JSON (never voted)
    )
    filtered_votes: int = 0  # too few votes (the scorer could not lift them), or not in a first sample (-Agg)
    filtered_scorer: int = 0  # enough votes alone, but the plausibility pulled the score under the threshold
    rescued_scorer: int = 0  # too few votes alone, kept thanks to the plausibility
    same_as_source: int = 0
    merged: int = 0  # kept names that resolved to the source itself or to a target already kept

    def __add__(self, other: FilterCounts) -> FilterCounts:
        return FilterCounts(
            *(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True))
        )

    @classmethod
    def of(cls, result: AggregationResult, config: AggregationConfig, malformed: int) -> FilterCounts:
        """Counts of one aggregation; the plausibility vetoes or rescues only when the aggregation decides."""
        threshold = config.threshold
        vetoed = sum(
            f.reason == FilterReason.BELOW_THRESHOLD
            and f.candidate.plausibility is not None
            and f.candidate.vote_share >= threshold
            for f in result.filtered
        )
        voted_out = sum(
            f.reason in (FilterReason.BELOW_THRESHOLD, FilterReason.NOT_IN_FIRST_SAMPLE)
            for f in result.filtered
        )
        rescued = sum(
            config.enabled and c.plausibility is not None and c.vote_share < threshold for c in result.kept
        )
        return cls(
            candidates=len(result.kept) + len(result.filtered),
            kept=len(result.kept),
            malformed=malformed,
            filtered_votes=voted_out - vetoed,
            filtered_scorer=vetoed,
            rescued_scorer=rescued,
            same_as_source=sum(f.reason == FilterReason.SAME_AS_SOURCE for f in result.filtered),
        )


@dataclass(frozen=True)
class RelationSelection:
    selected: tuple[str, ...]  # R_F in schema order
    votes: dict[str, int]  # samples choosing each relation of R_s
    dropped: tuple[str, ...]  # answers outside R_s
    malformed: int  # samples that were not the requested JSON
    prompt_id: str | None  # None when no selection prompt ran (-Rf)


@dataclass(frozen=True)
class MinedTarget:
    relation: str
    target_type: str
    candidate: Candidate
    ref: str  # Entity key, or Item:<asin> / Store:<name> of a linked SupKG node
    node_id: str | None  # element id of an existing node; None for a new Entity
    matched_by: MatchKind
    similarity: float | None
    prompt_ids: tuple[str, ...]
    scorer_plausibility: float | None = None  # the two factors of candidate.plausibility
    type_fit: float | None = None


@dataclass(frozen=True)
class RelationResult:
    relation: str
    aggregation: AggregationResult
    counts: FilterCounts
    prompt_ids: dict[str, str]  # step name -> prompt id


@dataclass(frozen=True)
class MiningResult:
    source: SourceContext
    selection: RelationSelection
    relations: tuple[RelationResult, ...]
    targets: tuple[MinedTarget, ...]
    usage: Usage
    model: str
    scorer_version: str | None
    seconds: float

    @property
    def counts(self) -> FilterCounts:
        total = FilterCounts()
        for r in self.relations:
            total = total + r.counts
        # unreadable selection (or source-pass) samples too: a one-pass answer that cannot be read loses all
        malformed = total.malformed + self.selection.malformed
        return replace(
            total, kept=len(self.targets), merged=total.kept - len(self.targets), malformed=malformed
        )

    def writes(self, run_id: str, at: str) -> list[TripleWrite]:
        out = []
        for t in self.targets:
            c = t.candidate
            props: dict[str, Any] = {
                "name": c.name,
                "votes": c.votes,
                "vote_share": c.vote_share,
                "plausibility": c.plausibility,
                "scorer_plausibility": t.scorer_plausibility,
                "type_fit": t.type_fit,
                "score": c.score,
                "steps": list(c.steps),
                "prompt_ids": list(t.prompt_ids),
                "model": self.model,
                "scorer": self.scorer_version,
                "matched_by": str(t.matched_by),
                "similarity": t.similarity,
                "at": at,
                "run_id": run_id,
            }
            out.append(TripleWrite(t.relation, t.ref, c.name, t.target_type, t.node_id, props))
        return out

    def summary(self) -> dict[str, Any]:
        """The ``pair_*`` properties stored on the source when it is done."""
        c = self.counts
        return {
            "pair_triples": len(self.targets),
            "pair_relations": list(self.selection.selected),
            "pair_selection_prompt": self.selection.prompt_id,  # None: R_F was not chosen by a prompt
            "pair_candidates": c.candidates,
            "pair_kept": c.kept,
            "pair_malformed": c.malformed,
            "pair_filtered_votes": c.filtered_votes,
            "pair_filtered_scorer": c.filtered_scorer,
            "pair_rescued_scorer": c.rescued_scorer,
            "pair_llm_calls": self.usage.calls,
            "pair_llm_cached": self.usage.cached,
            "pair_prompt_tokens": self.usage.prompt_tokens,
            "pair_completion_tokens": self.usage.completion_tokens,
            "pair_seconds": round(self.seconds, 3),
            "pair_model": self.model,
            "pair_scorer": self.scorer_version,
        }


@dataclass(frozen=True)
class EntityOutcome:
    source: str
    # done | skipped (already done in this run) | gave_up (delivered too often in this run) | missing
    status: str
    triples: int = 0
    counts: FilterCounts = field(default_factory=FilterCounts)
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "triples": self.triples,
            "counts": asdict(self.counts),
            "usage": asdict(self.usage),
            "seconds": round(self.seconds, 3),
        }
