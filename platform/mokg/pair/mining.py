"""PAIR mining of one source entity, as a worker runs it: P(r,t|s) = Σ_κ P(κ|s) P(r|s,κ) P(t|s,κ,r).

:class:`Miner` holds the LLM logic (no graph writes, so ``mokg pair eval`` can run it dry);
:func:`mine_entity` is the per-entity unit of work of a Celery task: claim → κ_S → mine → MERGE → done.

1. **κ_S** — the source's SupKG neighbourhood as short facts (:func:`mokg.pair.store.fetch_source`).
2. **Relation selection, P(r|s,κ)** — the selection prompt (κ_S + κ_D) is sampled ``n`` times with its answer
   constrained by a JSON schema enumerating R_s; :func:`~mokg.pair.prompts.filter_relations` drops anything
   outside R_s anyway. R_F = the relations chosen by a majority of the ``n`` samples, optionally capped at
   ``max_relations`` (most votes first).
3. **Progressive augmentation, P(t|s,κ,r)** — for each r in R_F the steps κ_D → κ_D+κ_S → κ_D+κ_S+κ_I, each
   sampled ``n`` times at ``temperature``; κ_I of the last step is the target set kept by aggregating the
   earlier steps (same rule as the final one).
4. **Aggregation** — :func:`~mokg.pair.aggregation.aggregate` over all steps: score = w·vote share +
   (1−w)·plausibility, kept when it reaches the threshold. The plausibility is the KG-BERT-style scorer's
   P(s,r,t) times the κ_D *type fit* of the name (:class:`TypeFit`). How many candidates the votes and the
   plausibility each removed is counted (:class:`FilterCounts`) and stored on the source and in the eval report.
5. **Resolution** — each kept name is linked by exact, normalised, then embedding match (cosine ≥
   ``link_threshold``) to existing nodes of its target type — SupKG Items for Product, Stores for Brand and
   Store, and Entities of the type — else a new ``Entity`` keyed by type and normalised name. The pools are
   a per-process :class:`~mokg.pair.pools.PoolCache` (loaded once, topped up, checked before linking).
6. **Write** — MERGE on stable keys with provenance {votes, vote_share, plausibility, score, prompt_ids,
   steps, model, scorer, matched_by, at, run_id}; then the source is marked done.

Decisions where the paper is vague:

* n = 3 samples per prompt (as in the paper) at temperature 0.8 with a fixed seed per sample index, so a
  re-run sends identical requests and the LLM cache answers them: re-mining is cheap and reproducible.
* The JSON schemas ask for at least one item (``minItems: 1``): under a grammar SmolLM2-135M otherwise
  answers ``[]`` almost always. The filter and the aggregation, not the format, decide what survives.
* Targets longer than ``max_target_words`` words or without a letter or digit are malformed (the prompt asks
  for 1-5 word names) and never vote, and so are echoes of the prompt — a relation id or label, an entity
  type name ("TARGET_AUDIENCE", "target audience", "Audience"), or several words all from them and from the
  prompt's own vocabulary ("Target Type Audience"; a single word such as "Target" may be a brand). A sample
  that is not the requested JSON counts as an empty sample.
* Ablations of Table I: ``aggregation=False`` keeps the union of the first sample of every step (no votes,
  no scorer); ``progressive=False`` is one κ_D+κ_S step; ``relation_filter=False`` skips the selection
  prompt and expands every relation of R_s.
* Plausibility = scorer × type fit. The scorer can only learn from SupKG triples (there are no labelled
  MoKG triples), and on relations it never saw, such as Target Audience, it rates almost anything ≈1
  ("package1054876239" 0.99 as a gift recipient of a gift card). The type fit — a softmax over the cosine
  similarities between the name and each entity type's κ_D description — is what rejects such names;
  on product relations the scorer itself discriminates. Both factors are stored as provenance.
* w = 0.5 and threshold 0.55: a target needs consensus *and* plausibility — one vote of nine needs a
  plausibility ≥ 0.99, two ≥ 0.88, three ≥ 0.77 — and even a full consensus is vetoed by a plausibility
  under 0.1. With SmolLM2-135M this keeps about 2% of the distinct candidates (see ``mokg pair eval``).
* ``relations`` narrows R_s (for example to one relation in tests); with a single candidate no selection
  prompt is sent, since the JSON schema would leave the model no choice.
* A target that resolves to the source itself, or to the source's own name, is dropped.
* Re-mining adds and updates triples, never deletes: a triple mined by an older run stays with its provenance.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from typing import Any

import neo4j
import numpy as np

from mokg.clock import stamp
from mokg.config import Settings
from mokg.graph import Graph
from mokg.llm import LLMClient, LLMError, TextEmbedder
from mokg.llm.client import ChatBackend, ChatRequest, ChatResult
from mokg.pair import store
from mokg.pair.aggregation import (
    AggregationConfig,
    AggregationResult,
    Candidate,
    FilterReason,
    PlausibilityFn,
    StepSamples,
    aggregate,
)
from mokg.pair.pools import PoolCache
from mokg.pair.prompts import (
    AnswerFormatError,
    Knowledge,
    Prompt,
    SourceEntity,
    augmentation_plan,
    build_augmentation_prompt,
    build_relation_selection_prompt,
    filter_relations,
    parse_string_list,
)
from mokg.pair.resolution import MatchKind, normalize_name
from mokg.pair.schema import RelationSchema, RelationSpec
from mokg.pair.scorer import EmbedFn, PlausibilityScorer
from mokg.pair.store import PoolEntry, SourceContext, SourceRef, TripleWrite
from mokg.pair.training import load_scorer, scorer_root

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    LLMError,  # the endpoint failed after the client's own retries
    neo4j.exceptions.Neo4jError,  # includes transient and constraint races of two workers creating one entity
    neo4j.exceptions.DriverError,  # server unavailable, session expired
    store.StaleTargetError,  # a linked node was deleted between resolution and write: retry, pool reloaded
    ConnectionError,
    TimeoutError,
)
"""Errors a task retries with backoff; anything else fails the source at once."""

PoolFn = Callable[[str], Sequence[PoolEntry]]
"""Existing nodes a target of the given type may link to (a Miner wraps it in a :class:`PoolCache`)."""


@cache
def _default_schema() -> RelationSchema:
    return RelationSchema.load()


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
    aggregation: bool = True
    use_scorer: bool = True
    type_fit: bool = True  # multiply the plausibility by the κ_D type fit of the target name
    agg_weight: float = 0.5
    agg_threshold: float = 0.55
    link_threshold: float = 0.85
    holdout_share: float = 0.0  # evaluation only: share of item-item pairs hidden from κ_S
    seed: int = 7
    scorer_version: str = ""  # the artifact the enqueuer chose; "" = vote share alone

    def __post_init__(self) -> None:
        if self.n_samples < 1 or self.max_targets < 1 or self.max_tokens < 8:
            raise ValueError("n_samples and max_targets must be at least 1, max_tokens at least 8")
        unknown = sorted(set(self.relations) - set(_default_schema().relations)) if self.relations else []
        if unknown:
            raise ValueError(f"unknown relations {unknown}")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError(f"holdout_share must lie in [0, 1), got {self.holdout_share}")
        AggregationConfig(self.agg_weight, self.agg_threshold)  # validates both

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


# Target types whose names may read as another type: a brand is often a store's name, a product an item's.
COMPATIBLE_TYPES: dict[str, tuple[str, ...]] = {
    "Product": ("Product", "Item"),
    "Brand": ("Brand", "Store"),
    "Store": ("Store", "Brand"),
}


class TypeFit:
    """P(type | name) from κ_D: a softmax over the cosine similarities between a name and the description of
    every entity type of the schema, summed over the types compatible with the wanted one. It catches what
    the SupKG-trained scorer cannot judge for relations it never saw: "package1054876239" or "Gift
    Recipient" as a Target Audience (≈0), while "college students" scores ≈0.9."""

    def __init__(self, schema: RelationSchema, embed: EmbedFn, temperature: float = 0.05) -> None:
        self.types = list(schema.entity_types)
        self.temperature = temperature
        self.prototypes = np.asarray(embed([schema.entity_types[t].description for t in self.types]))

    def __call__(self, names: Sequence[str], embeddings: np.ndarray, target_type: str) -> np.ndarray:
        if not len(names):
            return np.zeros(0)
        logits = (embeddings @ self.prototypes.T) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        wanted = [self.types.index(t) for t in COMPATIBLE_TYPES.get(target_type, (target_type,))]
        return np.asarray(probs[:, wanted].sum(axis=1), dtype=np.float64)


class EmbedCache:
    """Memoised text embeddings: pool names (item titles, stores) recur in every task of a worker."""

    def __init__(self, embed: EmbedFn, max_items: int = 200_000) -> None:
        self.embed = embed
        self.max_items = max_items
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            if len(self._cache) + len(missing) > self.max_items:
                self._cache.clear()
            vectors = np.asarray(self.embed(missing), dtype=np.float32)
            self._cache.update(zip(missing, vectors, strict=True))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


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
    malformed: int = 0  # generated strings that were not a short name (never voted)
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
        return replace(total, kept=len(self.targets), merged=total.kept - len(self.targets))

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


def restrict(schema: RelationSchema, relations: Sequence[str]) -> RelationSchema:
    """The schema with every candidate set R_s cut down to ``relations`` (prompts then list only those)."""
    candidates = {t: tuple(r for r in schema.candidate_ids(t) if r in relations) for t in schema.source_types}
    return RelationSchema(
        schema.version, schema.entity_types, schema.relations, candidates, schema.supkg_relations
    )


def _at_least_one(schema: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    out["properties"][key]["minItems"] = 1
    return out


def _answer(result: ChatResult) -> Any:
    return result.parsed_json if result.parsed_json is not None else result.text


# the prompts' own words for what they ask ("the target entity's name", "type"), normalised
_PROMPT_WORDS = frozenset({"type", "name", "entity", "target", "relation", "source", "item", "json", "list"})


def well_formed(name: str, max_words: int) -> bool:
    """A short entity name: at most ``max_words`` words and something left after normalisation."""
    return 0 < len(name.split()) <= max_words and bool(normalize_name(name))


@dataclass
class _Job:
    """State of one mine() call: usage and the plausibility factors per (relation, name)."""

    source: SourceContext
    usage: Usage = field(default_factory=Usage)
    factors: dict[tuple[str, str], tuple[float | None, float | None]] = field(default_factory=dict)
    model: str = ""


class Miner:
    """The LLM side of PAIR for one configuration; reusable across sources (holds no per-source state).

    ``pools`` is a process's :class:`PoolCache`, or a plain function that loads a pool (wrapped in a cache of
    its own, without top-ups or liveness checks: tests and dry runs)."""

    def __init__(
        self,
        llm: ChatBackend,
        schema: RelationSchema,
        embed: EmbedFn,
        pools: PoolCache | PoolFn,
        config: MiningConfig | None = None,
        scorer: PlausibilityScorer | None = None,
    ) -> None:
        self.llm = llm
        self.schema = restrict(schema, config.relations) if config and config.relations else schema
        self.embed = embed
        self.pools = pools if isinstance(pools, PoolCache) else PoolCache(pools, embed)
        self.config = config or MiningConfig()
        self.scorer = scorer if self.config.use_scorer else None
        self.type_fit = TypeFit(schema, embed) if self.config.type_fit else None
        # relation ids and labels and type names the small model copies from the prompt as "targets", and
        # names of several words all taken from them ("Target Type Audience"); one word stays a name ("Target")
        words = [*schema.relations, *(r.label for r in schema.relations.values()), *schema.entity_types]
        self.echoes = frozenset(normalize_name(w) for w in words)
        self.echo_words = frozenset(" ".join(self.echoes).split()) | _PROMPT_WORDS
        self.agg_config = AggregationConfig(
            self.config.agg_weight, self.config.agg_threshold, enabled=self.config.aggregation
        )

    def mine(self, source: SourceContext) -> MiningResult:
        t0 = time.perf_counter()
        job = _Job(source)
        selection = self.select_relations(job)
        relations: list[RelationResult] = []
        targets: dict[tuple[str, str], MinedTarget] = {}
        for rel_id in selection.selected:
            spec = self.schema.relation(rel_id)
            result = self.augment(job, spec)
            relations.append(result)
            for target in self.resolve(job, spec, result, selection.prompt_id):
                key = (target.relation, target.ref)
                if key not in targets or target.candidate.score > targets[key].candidate.score:
                    targets[key] = target
        return MiningResult(
            source=source,
            selection=selection,
            relations=tuple(relations),
            targets=tuple(targets.values()),
            usage=job.usage,
            model=job.model,
            scorer_version=self.scorer.manifest.version if self.scorer else None,
            seconds=time.perf_counter() - t0,
        )

    # -- LLM --------------------------------------------------------------------------------------------------
    def _ask(self, job: _Job, prompt: Prompt, key: str) -> list[ChatResult]:
        cfg = self.config
        schema = _at_least_one(prompt.json_schema, key)
        requests = [
            ChatRequest(prompt.messages, schema, cfg.temperature, cfg.max_tokens, cfg.seed, i)
            for i in range(cfg.n_samples)
        ]
        results = self.llm.chat_many(requests)
        job.usage.add(results)
        job.model = job.model or next((r.model for r in results if r.model), "")
        return results

    def _entity(self, source: SourceContext) -> SourceEntity:
        return SourceEntity(source.name, source.ref.type)

    # -- P(r|s,κ) ---------------------------------------------------------------------------------------------
    def select_relations(self, job: _Job) -> RelationSelection:
        source, cfg = job.source, self.config
        candidates = self.schema.candidate_ids(source.ref.type)
        if not cfg.relation_filter or len(candidates) <= 1:
            # -Rf, or a single candidate: the JSON schema (enum of one, at least one item) leaves no choice
            return RelationSelection(candidates, {}, (), 0, None)
        prompt = build_relation_selection_prompt(
            self._entity(source), self.schema, source.facts, max_facts=cfg.max_facts
        )
        votes: Counter[str] = Counter()
        dropped: list[str] = []
        malformed = 0
        for result in self._ask(job, prompt, "relations"):
            try:
                answer = parse_string_list(_answer(result), "relations")
            except AnswerFormatError:
                malformed += 1
                continue
            chosen = filter_relations(answer, candidates)
            votes.update(chosen.selected)
            dropped.extend(chosen.dropped)
        majority = cfg.n_samples // 2 + 1
        ranked = sorted((r for r in candidates if votes[r] >= majority), key=lambda r: -votes[r])
        if cfg.max_relations:
            ranked = ranked[: cfg.max_relations]
        selected = tuple(r for r in candidates if r in ranked)
        return RelationSelection(selected, dict(votes), tuple(dropped), malformed, prompt.id)

    # -- P(t|s,κ,r) and aggregation ---------------------------------------------------------------------------
    def _samples(self, results: Sequence[ChatResult]) -> tuple[list[list[str]], int]:
        """Target names per sample, malformed strings and echoes of the prompt dropped; an unparsable sample is
        an empty one."""
        samples: list[list[str]] = []
        malformed = 0
        for result in results:
            try:
                items = parse_string_list(_answer(result), "targets")
            except AnswerFormatError:
                samples.append([])
                malformed += 1
                continue
            good = [
                t
                for t in items
                if isinstance(t, str) and well_formed(t, self.config.max_target_words) and not self.echoed(t)
            ]
            malformed += len(items) - len(good)
            samples.append(good)
        return samples, malformed

    def echoed(self, name: str) -> bool:
        """The name repeats the prompt's own schema words rather than naming something."""
        key = normalize_name(name)
        words = key.split()
        return key in self.echoes or (len(words) > 1 and set(words) <= self.echo_words)

    def _plausibility(self, job: _Job, spec: RelationSpec) -> PlausibilityFn | None:
        """scorer(s, r, t) × type fit(t), each factor when enabled; records both factors per name."""
        scorer = (
            self.scorer.for_source(job.source.name, self.schema.describe(spec.id)) if self.scorer else None
        )
        type_fit = self.type_fit
        if scorer is None and type_fit is None:
            return None
        target_type = spec.target_type or ""

        def plausibility(names: Sequence[str]) -> np.ndarray:
            by_scorer = scorer(names) if scorer is not None else None
            fit = type_fit(names, self.embed(names), target_type) if type_fit is not None else None
            for i, name in enumerate(names):
                job.factors[(spec.id, name)] = (
                    None if by_scorer is None else float(by_scorer[i]),
                    None if fit is None else float(fit[i]),
                )
            combined = np.ones(len(names))
            for factor in (by_scorer, fit):
                if factor is not None:
                    combined = combined * factor
            return combined

        return plausibility

    def augment(self, job: _Job, spec: RelationSpec) -> RelationResult:
        source, cfg = job.source, self.config
        plausibility = self._plausibility(job, spec)
        steps: list[StepSamples] = []
        prompt_ids: dict[str, str] = {}
        malformed = 0
        for step in augmentation_plan(cfg.progressive):
            inherited: list[str] = []
            if Knowledge.INHERITED in step.knowledge:
                inherited = aggregate(steps, plausibility, self.agg_config, source.name).names
            prompt = build_augmentation_prompt(
                step,
                self._entity(source),
                spec,
                self.schema,
                source.facts,
                inherited,
                max_targets=cfg.max_targets,
                max_facts=cfg.max_facts,
            )
            samples, bad = self._samples(self._ask(job, prompt, "targets"))
            malformed += bad
            steps.append(StepSamples(step.name, samples, step.weight))
            prompt_ids[step.name] = prompt.id
        result = aggregate(steps, plausibility, self.agg_config, source.name)
        return RelationResult(
            spec.id, result, FilterCounts.of(result, self.agg_config, malformed), prompt_ids
        )

    # -- resolution -------------------------------------------------------------------------------------------
    def resolve(
        self, job: _Job, spec: RelationSpec, result: RelationResult, selection_prompt: str | None
    ) -> list[MinedTarget]:
        kept = result.aggregation.kept
        if not kept or spec.target_type is None:
            return []
        names = [c.name for c in kept]
        links = self.pools.resolve(spec.target_type, names, self.embed(names), self.config.link_threshold)
        own = str(job.source.ref)
        out = []
        for candidate, link in zip(kept, links, strict=True):
            res = link.resolution
            if res.key == own:
                continue  # the source itself, reached through its title or an embedding match
            prompt_ids = ((selection_prompt,) if selection_prompt else ()) + tuple(
                result.prompt_ids[s] for s in candidate.steps
            )
            by_scorer, fit = job.factors.get((spec.id, candidate.name), (None, None))
            out.append(
                MinedTarget(
                    spec.id,
                    spec.target_type,
                    candidate,
                    res.key,
                    link.node_id,
                    res.matched_by,
                    res.similarity,
                    prompt_ids,
                    by_scorer,
                    fit,
                )
            )
        return out


# -- the unit of work of a worker -----------------------------------------------------------------------------
@dataclass(frozen=True)
class EntityOutcome:
    source: str
    status: str  # done | skipped (already done in this run) | missing (no such source)
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


def mine_entity(graph: Graph, miner: Miner, ref: SourceRef, run_id: str, worker: str = "") -> EntityOutcome:
    """Mine one source and MERGE its triples. Safe to run twice: a source done in this run is skipped, and
    every write is a MERGE on stable keys. The new entities join the miner's pools at once. On an error the
    source is marked failed and the error re-raised (the task retries it)."""
    t0 = time.perf_counter()
    source = store.fetch_source(graph, ref, miner.config.holdout_share)
    if source is None:
        return EntityOutcome(str(ref), "missing")
    if not store.claim(graph, source, run_id, worker):
        return EntityOutcome(str(ref), "skipped")
    try:
        result = miner.mine(source)
        written = store.write_triples(graph, source, result.writes(run_id, stamp()))
        miner.pools.remember(written.entities)
        store.mark_done(graph, source, run_id, result.summary())
    except Exception as exc:
        if isinstance(exc, store.StaleTargetError):
            miner.pools.invalidate()  # the retry resolves against freshly loaded pools
        try:
            store.mark_failed(graph, source.node_id, run_id, f"{type(exc).__name__}: {exc}")
        except Exception as state_error:  # the graph itself may be what failed; keep the first error
            exc.add_note(f"could not mark the source failed: {state_error!r}")
        raise
    return EntityOutcome(
        str(ref), "done", len(result.targets), result.counts, result.usage, time.perf_counter() - t0
    )


class Runtime:
    """What a worker process keeps between tasks: one graph driver, the LLM client, the name-embedding cache,
    the resolution pools (:class:`PoolCache`, reloaded after ``pool_ttl_s``) and the scorers by version.
    Build it lazily in the worker (after any fork), close it at shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        graph: Graph | None = None,
        llm: ChatBackend | None = None,
        embed: EmbedFn | None = None,
        pool_ttl_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self.graph = graph or Graph(settings)
        self.llm: ChatBackend = llm or LLMClient(settings)
        self.raw_embed: EmbedFn = embed or TextEmbedder.from_settings(settings).encode
        self.embed = EmbedCache(self.raw_embed)
        self.schema = RelationSchema.load()
        self._scorers: dict[str, PlausibilityScorer] = {}
        g = self.graph
        self.pools = PoolCache(
            lambda target_type: store.load_pool(g, target_type),
            self.embed,
            since=lambda since: store.entities_since(g, since),
            live=lambda linked: store.live_nodes(g, linked),
            ttl_s=pool_ttl_s,
        )

    def scorer(self, version: str) -> PlausibilityScorer | None:
        if not version:
            return None
        if version not in self._scorers:
            self._scorers[version] = load_scorer(scorer_root(self.settings.home), version, self.raw_embed)
        return self._scorers[version]

    def miner(self, config: MiningConfig) -> Miner:
        scorer = self.scorer(config.scorer_version) if config.use_scorer else None
        return Miner(self.llm, self.schema, self.embed, self.pools, config, scorer)

    def mine(self, ref: SourceRef, run_id: str, config: MiningConfig, worker: str = "") -> EntityOutcome:
        return mine_entity(self.graph, self.miner(config), ref, run_id, worker)

    def close(self) -> None:
        self.graph.close()
