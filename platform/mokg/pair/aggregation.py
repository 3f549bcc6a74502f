"""Aggregation of sampled targets into the final target set T_F (§ Progressive Entity Augmentation).

Every prompt step k is sampled n_k times (n = 3 in the paper). A candidate's *vote share* is its consensus
frequency, the P(κ|s)-weighted mean over steps of the fraction of step-k samples that contain it:

    vote_share(t) = Σ_k w_k · c_k(t) / n_k  /  Σ_k w_k

which, with the step weights w_k standing for P(κ_k|s), is the Monte-Carlo estimate of the mixture
Σ_κ P(κ|s) P(t|s,κ,r) of eq. (1). It is combined with the semantic plausibility p(t) from the KG-BERT-style
scorer as ``score = w·vote_share + (1−w)·p`` and a candidate is kept when ``score ≥ threshold``.
Without a plausibility function the score is the vote share alone.

Candidates are grouped by :func:`~mokg.pair.resolution.normalize_name`, so "Gift Cards" and "gift card" vote
together; the display name is the group's most frequent surface form (ties: first seen).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from mokg.pair.resolution import normalize_name

PlausibilityFn = Callable[[Sequence[str]], np.ndarray]
_EPS = 1e-9  # 2 votes of 4 must reach a 0.5 threshold despite float rounding


class FilterReason(StrEnum):
    BELOW_THRESHOLD = "below_threshold"
    SAME_AS_SOURCE = "same_as_source"
    NOT_IN_FIRST_SAMPLE = "not_in_first_sample"


@dataclass(frozen=True)
class StepSamples:
    """The n sampled target lists of one prompt step; ``weight`` is P(κ|s) of that step (normalised here)."""

    step: str
    samples: Sequence[Sequence[str]]
    weight: float = 1.0


@dataclass(frozen=True)
class AggregationConfig:
    weight: float = 0.5  # w: share of the vote in the combined score
    threshold: float = 0.5
    enabled: bool = True  # False = the "-Agg" ablation: keep the union of the first sample of every step

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight must lie in [0, 1], got {self.weight}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")


@dataclass(frozen=True)
class Candidate:
    name: str
    key: str  # normalised name, the grouping key
    votes: int  # samples (over all steps) that contain the candidate
    vote_share: float
    plausibility: float | None
    score: float
    steps: tuple[str, ...]  # steps whose samples produced it, in step order


@dataclass(frozen=True)
class Filtered:
    candidate: Candidate
    reason: FilterReason


@dataclass(frozen=True)
class AggregationResult:
    kept: tuple[Candidate, ...]
    filtered: tuple[Filtered, ...]
    n_samples: int
    n_empty: int = 0  # generated strings with no word left after normalisation
    filtered_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.kept]


def aggregate(
    steps: Sequence[StepSamples],
    plausibility: PlausibilityFn | None = None,
    config: AggregationConfig | None = None,
    source_name: str | None = None,
) -> AggregationResult:
    """Vote over all samples of all steps and keep the candidates whose combined score reaches the threshold.

    ``plausibility`` is called once with the display names of all candidates and must return scores in [0, 1]
    (e.g. a closure over the scorer that builds the (s, r, t) triples). Candidates equal to ``source_name``
    (after normalisation) are always dropped: a relation from an entity to itself carries no knowledge.
    Steps without any sample (e.g. every LLM call failed) do not count; an empty sample does.
    """
    config = config or AggregationConfig()
    used = [s for s in steps if len(s.samples) and s.weight > 0]
    if not used:
        return AggregationResult((), (), 0)

    surface: dict[str, Counter[str]] = {}  # key -> surface form counts; insertion order = first seen
    step_counts: list[Counter[str]] = []
    in_first: set[str] = set()
    n_empty = 0
    for step in used:
        counts: Counter[str] = Counter()
        for j, sample in enumerate(step.samples):
            keys_in_sample: set[str] = set()
            for raw in sample:
                display = " ".join(raw.split())
                key = normalize_name(display)
                if not key:
                    n_empty += 1
                    continue
                surface.setdefault(key, Counter())[display] += 1
                keys_in_sample.add(key)
            counts.update(keys_in_sample)  # a sample votes once per candidate, however often it repeats it
            if j == 0:
                in_first |= keys_in_sample
        step_counts.append(counts)

    keys = list(surface)
    index = {k: i for i, k in enumerate(keys)}
    counts_matrix = np.zeros((len(used), len(keys)))
    for row, counts in enumerate(step_counts):
        cols = [index[k] for k in counts]
        counts_matrix[row, cols] = list(counts.values())
    n_per_step = np.array([len(s.samples) for s in used], dtype=np.float64)
    weights = np.array([s.weight for s in used], dtype=np.float64)
    vote_share = (weights / weights.sum()) @ (counts_matrix / n_per_step[:, None])

    names = [surface[k].most_common(1)[0][0] for k in keys]  # most_common is stable for ties: first seen wins
    plaus: np.ndarray | None = None
    if plausibility is not None and keys:
        plaus = np.asarray(plausibility(names), dtype=np.float64).reshape(-1)
        if plaus.shape != (len(keys),):
            raise ValueError(f"plausibility returned {plaus.shape[0]} scores for {len(keys)} candidates")
        score = config.weight * vote_share + (1.0 - config.weight) * plaus
    else:
        score = vote_share

    source_key = normalize_name(source_name) if source_name else None
    kept: list[Candidate] = []
    filtered: list[Filtered] = []
    for i, key in enumerate(keys):
        candidate = Candidate(
            name=names[i],
            key=key,
            votes=int(counts_matrix[:, i].sum()),
            vote_share=float(vote_share[i]),
            plausibility=None if plaus is None else float(plaus[i]),
            score=float(score[i]),
            steps=tuple(s.step for row, s in enumerate(used) if counts_matrix[row, i] > 0),
        )
        if key == source_key:
            filtered.append(Filtered(candidate, FilterReason.SAME_AS_SOURCE))
        elif not config.enabled:
            if key in in_first:
                kept.append(candidate)
            else:
                filtered.append(Filtered(candidate, FilterReason.NOT_IN_FIRST_SAMPLE))
        elif candidate.score >= config.threshold - _EPS:
            kept.append(candidate)
        else:
            filtered.append(Filtered(candidate, FilterReason.BELOW_THRESHOLD))

    def order(c: Candidate) -> tuple[float, int, str]:
        return (-c.score, -c.votes, c.key)

    kept.sort(key=order)
    filtered.sort(key=lambda f: order(f.candidate))
    return AggregationResult(
        kept=tuple(kept),
        filtered=tuple(filtered),
        n_samples=int(n_per_step.sum()),
        n_empty=n_empty,
        filtered_by_reason=dict(Counter(str(f.reason) for f in filtered)),
    )
