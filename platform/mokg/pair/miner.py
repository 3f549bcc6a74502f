"""PAIR mining of one source entity: P(r,t|s) = Σ_κ P(κ|s) P(r|s,κ) P(t|s,κ,r) (the paper's *Formulation*).

:class:`Miner` holds the LLM logic (no graph writes, so ``mokg pair eval`` can run it dry); a worker runs it
through :func:`mokg.pair.runtime.mine_entity`.

1. **κ_S** — the source's SupKG neighbourhood as short facts (:func:`mokg.pair.store.fetch_source`).
2. **Relation selection, P(r|s,κ)** (*Relation Selection with Bounded Scope*) — the selection prompt
   (κ_S + κ_D) is sampled ``n`` times with its answer constrained by a JSON schema enumerating R_s;
   :func:`~mokg.pair.prompts.filter_relations` drops anything outside R_s anyway. R_F = the relations chosen
   by a majority of the ``n`` samples, optionally capped at ``max_relations`` (most votes first; among equal
   votes, the relation a sample named earliest).
3. **Progressive augmentation, P(t|s,κ,r)** (*Progressive Entity Augmentation*) — for each r in R_F the steps
   κ_D → κ_D+κ_S → κ_D+κ_S+κ_I, each sampled ``n`` times at ``temperature``; κ_I of the last step is the
   target set kept by aggregating the earlier steps (same rule as the final one). The relations go in
   lockstep: one batch of requests per step for all of them, so the server's parallel slots fill.
4. **Aggregation** — :func:`~mokg.pair.aggregation.aggregate` over all steps: score = w·vote share +
   (1−w)·plausibility, kept when it reaches the threshold. The plausibility is the KG-BERT-style scorer's
   P(s,r,t) times the κ_D *type fit* of the name (:mod:`mokg.pair.plausibility`). How many candidates the
   votes and the plausibility each removed is counted (:class:`~mokg.pair.results.FilterCounts`).
5. **Resolution** — each kept name is linked by exact, normalised, then embedding match (cosine ≥
   ``link_threshold``) to existing nodes of its target type — SupKG Items for Product, Stores for Brand and
   Store, and Entities of the type — else a new ``Entity`` keyed by type and normalised name. The pools are
   a per-process :class:`~mokg.pair.pools.PoolCache` (loaded once, topped up, checked before linking).

**One pass** (``source_pass``, LightPAIR's way, :meth:`Miner.source_pass`) replaces steps 2 and 3 with one prompt
a source, answered as the relations that apply and the targets of each; R_F is the relations a majority of the
samples name, and each relation's lists go to step 4 as one step of samples.

Decisions where the paper is vague (the configuration's own are in :mod:`mokg.pair.config`, the
plausibility's in :mod:`mokg.pair.plausibility`):

* The JSON schemas ask for at least one item (``minItems: 1``): under a grammar SmolLM2-135M otherwise
  answers ``[]`` almost always. The filter and the aggregation, not the format, decide what survives.
* Targets longer than ``max_target_words`` words or ``MAX_NAME_CHARS`` characters, or without a letter or
  digit, are malformed (the prompt asks for 1-5 word names) and never vote, and so are echoes of the prompt —
  a relation id or label, an entity type name ("TARGET_AUDIENCE", "target audience", "Audience"), or several
  words all from them and from the prompt's own vocabulary ("Target Type Audience"; a single word such as
  "Target" may be a brand). A sample that is not the requested JSON counts as an empty sample.
* With a single candidate relation (for example ``relations`` narrowed to one) no selection prompt is sent,
  since the JSON schema would leave the model no choice.
* A target that resolves to the source itself, or to the source's own name, is dropped.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mokg.llm.client import ChatBackend, ChatRequest, ChatResult
from mokg.pair.aggregation import AggregationConfig, PlausibilityFn, StepSamples, aggregate
from mokg.pair.config import MiningConfig
from mokg.pair.plausibility import TypeFit, combine
from mokg.pair.pools import PoolCache
from mokg.pair.prompts import (
    AnswerFormatError,
    Knowledge,
    Prompt,
    SourceEntity,
    augmentation_plan,
    build_augmentation_prompt,
    build_relation_selection_prompt,
    build_source_pass_prompt,
    filter_relations,
    parse_source_pass,
    parse_string_list,
)
from mokg.pair.resolution import normalize_name
from mokg.pair.results import (
    FilterCounts,
    MinedTarget,
    MiningResult,
    RelationResult,
    RelationSelection,
    Usage,
)
from mokg.pair.schema import RelationSchema, RelationSpec
from mokg.pair.scorer import EmbedFn, PlausibilityScorer
from mokg.pair.store import PoolEntry, SourceContext

PoolFn = Callable[[str], Sequence[PoolEntry]]
"""Existing nodes a target of the given type may link to (a Miner wraps it in a :class:`PoolCache`)."""


def _at_least_one(schema: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    out["properties"][key]["minItems"] = 1
    return out


def _answer(result: ChatResult) -> Any:
    return result.parsed_json if result.parsed_json is not None else result.text


# the prompts' own words for what they ask ("the target entity's name", "type"), normalised
_PROMPT_WORDS = frozenset({"type", "name", "entity", "target", "relation", "source", "item", "json", "list"})


MAX_NAME_CHARS = 60
"""Longest target name kept: a few words of ordinary length (one "word" may be thousands of characters)."""


def well_formed(name: str, max_words: int) -> bool:
    """A short entity name: at most ``max_words`` words and :data:`MAX_NAME_CHARS` characters, and something
    left after normalisation."""
    return (
        0 < len(name.split()) <= max_words
        and len(name.strip()) <= MAX_NAME_CHARS
        and bool(normalize_name(name))
    )


@dataclass
class _Job:
    """State of one mine() call: usage and the plausibility factors per (relation, name)."""

    source: SourceContext
    usage: Usage = field(default_factory=Usage)
    factors: dict[tuple[str, str], tuple[float | None, float | None]] = field(default_factory=dict)
    model: str = ""


@dataclass
class _RelationRun:
    """One relation's progressive steps within a source."""

    spec: RelationSpec
    plausibility: PlausibilityFn | None
    steps: list[StepSamples] = field(default_factory=list)
    prompt_ids: dict[str, str] = field(default_factory=dict)
    malformed: int = 0


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
        self.schema = schema.narrowed(config.relations) if config else schema
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
        if self.config.source_pass:
            selection, relations = self.source_pass(job)
            selection_prompt = None  # the one prompt is each triple's step prompt already
        else:
            selection = self.select_relations(job)
            relations = self.augment(job, [self.schema.relation(r) for r in selection.selected])
            selection_prompt = selection.prompt_id
        targets: dict[tuple[str, str], MinedTarget] = {}
        for result in relations:
            for target in self.resolve(job, self.schema.relation(result.relation), result, selection_prompt):
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
    def _ask(self, job: _Job, prompts: Sequence[Prompt], key: str) -> list[list[ChatResult]]:
        """The ``n`` samples of every prompt, all in one batch so that the server's slots answer them
        together; the results per prompt."""
        cfg, n = self.config, self.config.n_samples
        requests: list[ChatRequest] = []
        for prompt in prompts:
            schema = _at_least_one(prompt.json_schema, key)
            requests += [
                ChatRequest(prompt.messages, schema, cfg.temperature, cfg.max_tokens, cfg.seed, i)
                for i in range(n)
            ]
        results = self.llm.chat_many(requests) if requests else []
        job.usage.add(results)
        job.model = job.model or next((r.model for r in results if r.model), "")
        return [results[k * n : (k + 1) * n] for k in range(len(prompts))]

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
        first: dict[str, int] = {}  # the earliest place any sample named a relation: breaks ties in votes
        dropped: list[str] = []
        malformed = 0
        for result in self._ask(job, [prompt], "relations")[0]:
            try:
                answer = parse_string_list(_answer(result), "relations")
            except AnswerFormatError:
                malformed += 1
                continue
            chosen = filter_relations(answer, candidates)
            votes.update(chosen.selected)
            for place, rel in enumerate(chosen.named):
                first[rel] = min(place, first.get(rel, place))
            dropped.extend(chosen.dropped)
        selected = self._bounded(candidates, votes, first)
        return RelationSelection(selected, dict(votes), tuple(dropped), malformed, prompt.id)

    def _bounded(
        self, candidates: Sequence[str], votes: Counter[str], first: dict[str, int]
    ) -> tuple[str, ...]:
        """R_F: the candidates a majority of the samples chose, capped at ``max_relations`` (most votes first;
        among equal votes, the one a sample named earliest), in schema order."""
        majority = self.config.n_samples // 2 + 1
        ranked = sorted((r for r in candidates if votes[r] >= majority), key=lambda r: (-votes[r], first[r]))
        if self.config.max_relations:
            ranked = ranked[: self.config.max_relations]
        return tuple(r for r in candidates if r in ranked)

    # -- P(r,t|s) in one prompt (LightPAIR) -------------------------------------------------------------------
    def source_pass(self, job: _Job) -> tuple[RelationSelection, list[RelationResult]]:
        """One prompt a source answered with relations and their targets: R_F is the relations a majority of
        the samples name (all of R_s without the relation filter); each relation's targets per sample are one
        step of samples, aggregated as PAIR's."""
        source, cfg = job.source, self.config
        candidates = self.schema.candidate_ids(source.ref.type)
        prompt = build_source_pass_prompt(
            self._entity(source),
            self.schema,
            source.facts,
            max_targets=cfg.max_targets,
            max_facts=cfg.max_facts,
        )
        answers: list[dict[str, list[Any]]] = []  # per sample: relation -> its raw targets
        votes: Counter[str] = Counter()
        first: dict[str, int] = {}
        dropped: list[str] = []
        malformed = 0
        for result in self._ask(job, [prompt], "relations")[0]:
            try:
                entries = parse_source_pass(result.text)
            except AnswerFormatError:
                answers.append({})
                malformed += 1
                continue
            by_relation: dict[str, list[Any]] = {}
            for relation, items in entries:
                chosen = filter_relations([relation], candidates)
                dropped.extend(chosen.dropped)
                for rel in chosen.selected:  # a relation named twice: its targets together
                    by_relation.setdefault(rel, []).extend(items)
            votes.update(list(by_relation))  # one vote a sample (a dict would add its values)
            for place, rel in enumerate(by_relation):
                first[rel] = min(place, first.get(rel, place))
            answers.append(by_relation)
        selected = self._bounded(candidates, votes, first) if cfg.relation_filter else tuple(candidates)
        out = []
        for rel in selected:
            spec = self.schema.relation(rel)
            run = _RelationRun(spec, self._plausibility(job, spec))
            samples = []
            for answer in answers:
                good, bad = self._good_targets(answer.get(rel, []))
                run.malformed += bad
                samples.append(good)
            run.steps.append(StepSamples(prompt.template, samples))
            run.prompt_ids[prompt.template] = prompt.id
            out.append(self._aggregated(job, run))
        chose = prompt.id if cfg.relation_filter else None  # -Rf: no answer chose R_F
        return RelationSelection(selected, dict(votes), tuple(dropped), malformed, chose), out

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
            good, bad = self._good_targets(items)
            malformed += bad
            samples.append(good)
        return samples, malformed

    def _good_targets(self, items: Sequence[Any]) -> tuple[list[str], int]:
        """The well-formed names of one sample that do not echo the prompt, and how many others it gave."""
        good = [
            t
            for t in items
            if isinstance(t, str) and well_formed(t, self.config.max_target_words) and not self.echoed(t)
        ]
        return good, len(items) - len(good)

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
        fit = self.type_fit.for_type(spec.target_type or "", self.embed) if self.type_fit else None

        def record(name: str, by_scorer: float | None, by_type: float | None) -> None:
            job.factors[(spec.id, name)] = (by_scorer, by_type)

        return combine(scorer, fit, record)

    def augment(self, job: _Job, specs: Sequence[RelationSpec]) -> list[RelationResult]:
        """P(t|s,κ,r) for each selected relation. The relations go in lockstep: a step's prompts for every
        relation are sent as one batch (a step depends only on its own relation's earlier steps), so a source
        costs one round trip per step rather than one per step and relation."""
        source, cfg = job.source, self.config
        runs = [_RelationRun(spec, self._plausibility(job, spec)) for spec in specs]
        for step in augmentation_plan(cfg.progressive):
            prompts = []
            for run in runs:
                inherited: list[str] = []
                if Knowledge.INHERITED in step.knowledge:
                    inherited = aggregate(run.steps, run.plausibility, self.agg_config, source.name).names
                prompt = build_augmentation_prompt(
                    step,
                    self._entity(source),
                    run.spec,
                    self.schema,
                    source.facts,
                    inherited,
                    max_targets=cfg.max_targets,
                    max_facts=cfg.max_facts,
                )
                run.prompt_ids[step.name] = prompt.id
                prompts.append(prompt)
            for run, results in zip(runs, self._ask(job, prompts, "targets"), strict=True):
                samples, bad = self._samples(results)
                run.malformed += bad
                run.steps.append(StepSamples(step.name, samples, step.weight))
        return [self._aggregated(job, run) for run in runs]

    def _aggregated(self, job: _Job, run: _RelationRun) -> RelationResult:
        result = aggregate(run.steps, run.plausibility, self.agg_config, job.source.name)
        counts = FilterCounts.of(result, self.agg_config, run.malformed)
        return RelationResult(run.spec.id, result, counts, run.prompt_ids)

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
