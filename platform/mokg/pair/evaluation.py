"""`mokg pair eval`: the paper's mining metrics on our data, an accuracy proxy, ablations and a downstream check.

**Seeds** (campaign items): items with a title, at least one ALSO_BOUGHT link and at least ``min_reviews``
reviewers, in a fixed hash order of their ASINs (stable across runs, not biased to low ASINs), less the
``exclude``d ones: with the ``lightpair`` variant, every source its adapter's distillation data read (those with
kept triples and those without), so that the student is judged on items its teacher never mined for it.

**Variants** (Table I rows): ``full`` PAIR, and one switch off each: ``no_aggregation`` (union of the first
sample of every step, no votes, no plausibility), ``no_progressive`` (one κ_D+κ_S step), ``no_relation_filter``
(every relation of R_s, no selection prompt); and ``lightpair`` (Table II), the distilled adapter named by
``adapter``: one greedy source-pass prompt a seed, its relations and their targets in one answer
(:data:`~mokg.pair.config.LIGHTPAIR_PASS`), on the same seeds, scorer and hold-out. Every variant mines every
seed *dry* — :class:`Miner` runs, nothing is written — with ``holdout_share`` of the item-item pairs hidden from κ_S. Shared prompts hit the
LLM cache, so a variant only pays for the prompts it changes.

**Metrics per variant**

* AEE — new entities per seed: distinct targets that resolution did not link to an existing node.
* Novelty — share of distinct mined triples whose two ends are not linked in the SupKG (any relation, either
  direction; :func:`mokg.pair.metrics.novelty`). A triple to a new entity is always novel.
* ILAD — mean pairwise Euclidean distance between the embeddings (all-MiniLM-L6-v2, unit vectors, so in
  [0, 2]) of the targets of each (seed, relation) list, averaged over lists with two or more targets.
* Distinct (relation, target) pairs kept — beside the triple count, so that a miner that gives every seed the
  same generic target (OCCASION: Christmas) shows as what it is; its triples pass the scorer and the judge.
* ALSO_BOUGHT recovery (accuracy proxy; the paper's accuracy is a human judgement) — the share of the seeds'
  held-out ALSO_BOUGHT pairs that a mined COMPLEMENTARY/SIMILAR_PRODUCT triple recovers, i.e. whose target
  resolved to the other item. The hold-out is symmetric and also hides the pair's ALSO_VIEWED facts.
* Scorer plausibility (second accuracy proxy) — the plausibility scorer's mean P(s, r, t) over the kept triples
  (the scorer is trained on SupKG facts; ``mokg pair train-scorer`` prints its validation AUC on held-out ones,
  the report does not repeat it). It moves
  where ALSO_BOUGHT recovery stays at 0, but it is not independent of the aggregation, which uses the same
  scorer as a factor of its threshold: it compares miners filtered alike, not miners against the truth.
* LLM judge (third accuracy proxy, :mod:`mokg.pair.judge`) — the share of kept triples the evaluation's own
  LLM, asked yes or no, calls true; shown beside the judge's agreement with the SupKG (balanced accuracy on
  up to ``judge_facts`` of the seeds' ALSO_BOUGHT facts against a corruption of each where one exists), and a verdict only
  where that agreement reaches :data:`~mokg.pair.judge.MIN_AGREEMENT`. ``judge_facts=0`` skips it.
* Speed (Table II) — seeds per minute of wall time and LLM tokens (prompt + completion) per seed, with the
  share of calls the LLM cache answered: only a run with ``use_cache=False`` (``--fresh``) times the server.
* Filtering — distinct candidates, kept, malformed strings, removed by votes, removed by plausibility (scorer ×
  type fit) although the votes alone would have passed, and rescued by plausibility.

**Downstream value** (Table IV analog, per variant; the per-campaign table is the full variant's). For each campaign item the *buyers* are its reviewers,
whose REVIEWED edges to it are never used. The SupKG audience is the reviewers of the items directly linked to
it in the SupKG (visible ALSO_BOUGHT / ALSO_VIEWED / BOUGHT_TOGETHER neighbours and items of the same store);
the MoKG audience adds the reviewers of the items the MoKG links it to: items its mined triples resolved to,
and items sharing a mined target with it (from the mined triples in the graph plus this evaluation's). TAC =
buyers covered by the audience; audience sizes are reported too, since a larger audience covers more by
size alone.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mokg.clock import stamp
from mokg.graph import Graph
from mokg.pair import judge
from mokg.pair.config import LIGHTPAIR_PASS, MiningConfig
from mokg.pair.judge import Agreement, Answers
from mokg.pair.metrics import PRODUCT_RELATIONS, MinedTriple, aee, also_bought_recall, ilad, novelty
from mokg.pair.resolution import MatchKind
from mokg.pair.results import FilterCounts, MiningResult
from mokg.pair.runtime import Runtime
from mokg.pair.store import SourceRef, fetch_source, is_held_out

VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "no_aggregation": {"aggregation": False},
    "no_progressive": {"progressive": False},
    "no_relation_filter": {"relation_filter": False},
    "lightpair": {"miner": "lightpair", **LIGHTPAIR_PASS},  # and the adapter: EvalConfig.adapter
}
PAIR_VARIANTS = ("full", "no_aggregation", "no_progressive", "no_relation_filter")
_ITEM_LINKS = ("ALSO_BOUGHT", "ALSO_VIEWED", "BOUGHT_TOGETHER")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvalConfig:
    seeds: int = 10
    holdout_share: float = 0.3
    min_reviews: int = 2
    variants: tuple[str, ...] = PAIR_VARIANTS
    mining: MiningConfig = field(default_factory=MiningConfig)
    max_examples: int = 40
    adapter: str = ""  # the LightPAIR adapter version of the ``lightpair`` variant
    judge_facts: int = 100  # SupKG facts (and their corruptions) that calibrate the LLM judge; 0: no judge
    # source refs never taken as seeds (the adapter's teacher sources); None: unknown here (an adapter
    # served from elsewhere), which the report says
    exclude: tuple[str, ...] | None = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.variants) - set(VARIANTS))
        if unknown:
            raise ValueError(f"unknown variants {unknown}; known: {list(VARIANTS)}")
        if "lightpair" in self.variants and not self.adapter:
            raise ValueError("the lightpair variant needs an adapter version")

    def variant_mining(self, name: str) -> MiningConfig:
        """The mining configuration of a variant: the run's, with the hold-out and the variant's switches."""
        extra = {"adapter": self.adapter} if name == "lightpair" else {}
        return self.mining.with_(holdout_share=self.holdout_share, **VARIANTS[name], **extra)


@dataclass(frozen=True)
class VariantRow:
    variant: str
    seeds: int
    triples: int
    relations_per_seed: float
    aee: float
    novelty: float
    ilad: float
    ab_recovered: int
    ab_held_out: int
    counts: FilterCounts
    llm_calls: int
    llm_cached: int
    completion_tokens: int
    seconds: float
    model: str = ""
    prompt_tokens: int = 0
    scorer_plausibility: float | None = None  # mean over kept triples with a scorer factor
    tac_audience: int = (
        0  # summed over the campaign items: MoKG-expanded audience with this variant's triples
    )
    tac_covered: int = 0
    judge: Answers | None = None  # the LLM judge on the kept triples
    # distinct (relation, target) pairs among the kept triples: a miner that gives every seed the same
    # generic target (OCCASION Christmas) keeps many triples, high plausibility and few of these
    distinct_targets: int = 0

    @property
    def ab_recall(self) -> float:
        return self.ab_recovered / self.ab_held_out if self.ab_held_out else 0.0

    @property
    def seeds_per_minute(self) -> float:
        return 60.0 * self.seeds / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_seed(self) -> float:
        return (self.prompt_tokens + self.completion_tokens) / self.seeds if self.seeds else 0.0


@dataclass(frozen=True)
class CampaignRow:
    asin: str
    title: str
    buyers: int
    supkg_audience: int
    supkg_covered: int
    mokg_audience: int
    mokg_covered: int

    @property
    def relative_improvement(self) -> float | None:
        if not self.supkg_covered:
            return None
        return (self.mokg_covered - self.supkg_covered) / self.supkg_covered


@dataclass(frozen=True)
class EvalReport:
    created: str
    config: dict[str, Any]
    model: str
    scorer: str | None
    seeds: tuple[str, ...]
    rows: tuple[VariantRow, ...]
    campaigns: tuple[CampaignRow, ...]
    examples: tuple[dict[str, Any], ...]
    judge: Agreement | None = None
    campaigns_variant: str = "full"  # whose MoKG the per-campaign table expands through

    def as_dict(self) -> dict[str, Any]:
        rows = [
            {
                **asdict(r),
                "ab_recall": r.ab_recall,
                "seeds_per_minute": r.seeds_per_minute,
                "tokens_per_seed": r.tokens_per_seed,
                "judge_yes_share": r.judge.yes_share if r.judge else None,
            }
            for r in self.rows
        ]
        campaigns = [{**asdict(c), "relative_improvement": c.relative_improvement} for c in self.campaigns]
        agreement = (
            {
                **asdict(self.judge),
                "model": self.judge.model,
                "balanced_accuracy": self.judge.balanced_accuracy,
                "standard_error": self.judge.standard_error,
                "informative": self.judge.informative,
            }
            if self.judge
            else None
        )
        return {**asdict(self), "rows": rows, "campaigns": campaigns, "judge": agreement}

    def markdown(self) -> str:
        lines = [
            f"# PAIR evaluation ({self.created})",
            "",
            f"Model `{self.model}`, scorer `{self.scorer or 'none'}`, {len(self.seeds)} seed items, "
            f"{self.config['holdout_share']:.0%} of item-item pairs held out from κ_S." + self._left_out(),
            "",
            "## Mining quality and ablations (Table I analog)",
            "",
            "| variant | triples | distinct (relation, target) | rel./seed | AEE | Novelty | ILAD | "
            "ALSO_BOUGHT recovered | LLM calls (cached) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.variant} | {r.triples} | {r.distinct_targets} | {r.relations_per_seed:.2f} | {r.aee:.2f} | "
                f"{r.novelty:.1%} | "
                f"{r.ilad:.3f} | {r.ab_recovered}/{r.ab_held_out} ({r.ab_recall:.1%}) | "
                f"{r.llm_calls} ({r.llm_cached}) |"
            )
        lines += self._table_ii()
        lines += self._judge()
        lines += [
            "",
            "## What the aggregation and the scorer filtered",
            "",
            "| variant | candidates | kept | malformed | removed by votes | removed by plausibility | "
            "rescued by plausibility | same as source | merged at resolution |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            n = r.counts
            lines.append(
                f"| {r.variant} | {n.candidates} | {n.kept} | {n.malformed} | {n.filtered_votes} | "
                f"{n.filtered_scorer} | {n.rescued_scorer} | {n.same_as_source} | {n.merged} |"
            )
        if self.campaigns:
            lines += [
                "",
                f"## Audience coverage of campaign items (Table IV analog; the {self.campaigns_variant} variant's MoKG)",
                "",
                "| campaign item | buyers | SupKG audience | SupKG TAC | MoKG audience | MoKG TAC | RI |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for c in self.campaigns:
                ri = "n/a" if c.relative_improvement is None else f"{c.relative_improvement:+.1%}"
                lines.append(
                    f"| {c.title[:50]} ({c.asin}) | {c.buyers} | {c.supkg_audience} | {c.supkg_covered} | "
                    f"{c.mokg_audience} | {c.mokg_covered} | {ri} |"
                )
            total = (
                sum(c.supkg_covered for c in self.campaigns),
                sum(c.mokg_covered for c in self.campaigns),
            )
            lines.append(
                f"| **all** | {sum(c.buyers for c in self.campaigns)} | | {total[0]} | | {total[1]} | |"
            )
        if self.examples:
            lines += [
                "",
                "## Examples (full PAIR, and LightPAIR when evaluated): kept and filtered targets",
                "",
                "| variant | seed | relation | target | votes | vote share | plausibility | score | outcome |",
                "|---|---|---|---|---:|---:|---:|---:|---|",
            ]
            for e in self.examples:
                plaus = "-" if e["plausibility"] is None else f"{e['plausibility']:.2f}"
                lines.append(
                    f"| {e['variant']} | {e['seed']} | {e['relation']} | {e['target']} | {e['votes']} | "
                    f"{e['vote_share']:.2f} | {plaus} | {e['score']:.2f} | {e['outcome']} |"
                )
        return "\n".join(lines) + "\n"

    def _left_out(self) -> str:
        note = teacher_sources_note(self.config.get("exclude", ()), self.config.get("excluded_candidates", 0))
        return f" Seeds: {note}." if note else ""

    def _judge(self) -> list[str]:
        a = self.judge
        if a is None:
            return []
        ba, se = a.balanced_accuracy, a.standard_error
        lines = [
            "",
            "## LLM judge (third accuracy proxy)",
            "",
            f"Judge `{a.model or '-'}`, the evaluation's own LLM, asked yes or no. Calibration on the SupKG: "
            f"yes to {a.facts.yes} of {a.facts.asked} ALSO_BOUGHT facts and to {a.corruptions.yes} of "
            f"{a.corruptions.asked} corruptions ({a.facts.unparsed + a.corruptions.unparsed} unparsed); "
            f"balanced accuracy {'-' if ba is None or se is None else f'{ba:.2f} ± {se:.2f} (one standard error)'}.",
        ]
        if not a.informative:
            lines.append(
                f"**No verdict:** the judge's yes share below ranks nothing: it needs a balanced accuracy of "
                f"{judge.MIN_AGREEMENT:.2f} or more, on at least {judge.MIN_ANSWERED} readable answers a side "
                f"with at most {judge.MAX_UNPARSED_SHARE:.0%} unreadable."
            )
        lines += ["", "| variant | kept triples judged | yes | yes share |", "|---|---:|---:|---:|"]
        for r in self.rows:
            if r.judge is not None:
                share = "-" if r.judge.yes_share is None else f"{r.judge.yes_share:.1%}"
                if r.judge.answered < judge.MIN_ANSWERED:
                    share += f" (under {judge.MIN_ANSWERED} answers: too few to compare)"
                lines.append(f"| {r.variant} | {r.judge.asked} | {r.judge.yes} | {share} |")
        return lines

    def _table_ii(self) -> list[str]:
        supkg = (sum(c.supkg_audience for c in self.campaigns), sum(c.supkg_covered for c in self.campaigns))
        buyers = sum(c.buyers for c in self.campaigns)
        lines = [
            "",
            "## Speed, second accuracy proxy and audience coverage per variant (Tables II and IV analog)",
            "",
            f"TAC: campaign buyers covered, of {buyers}; the SupKG-only audience ({supkg[0]} users) covers "
            f"{supkg[1]}. Seeds/min counts wall time: calls the LLM cache answered cost nothing.",
            "",
            "| variant | model | seeds/min | LLM tokens/seed | calls (cached) | scorer plausibility | "
            "ALSO_BOUGHT | audience | TAC |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            plaus = "-" if r.scorer_plausibility is None else f"{r.scorer_plausibility:.3f}"
            lines.append(
                f"| {r.variant} | `{r.model}` | {r.seeds_per_minute:.1f} | {r.tokens_per_seed:.0f} | "
                f"{r.llm_calls} ({r.llm_cached}) | {plaus} | {r.ab_recovered}/{r.ab_held_out} | "
                f"{r.tac_audience} | {r.tac_covered} |"
            )
        by_name = {r.variant: r for r in self.rows}
        full, light = by_name.get("full"), by_name.get("lightpair")
        if full and light:
            speed = light.seeds_per_minute / full.seeds_per_minute if full.seeds_per_minute else float("nan")
            lines += ["", f"LightPAIR against full PAIR: ×{speed:.2f} seeds per minute"]
            if full.scorer_plausibility and light.scorer_plausibility is not None:
                lines[-1] += (
                    f", ×{light.scorer_plausibility / full.scorer_plausibility:.2f} scorer plausibility"
                )
            if full.ab_recovered:
                lines[-1] += f", ×{light.ab_recovered / full.ab_recovered:.2f} ALSO_BOUGHT recovered"
            if full.distinct_targets:
                lines[-1] += (
                    f", ×{light.distinct_targets / full.distinct_targets:.2f} distinct (relation, target)"
                )
            answers = [a for a in (full.judge, light.judge) if a and a.answered >= judge.MIN_ANSWERED]
            if self.judge and self.judge.informative and len(answers) == 2 and answers[0].yes:
                shares = [a.yes / a.answered for a in answers]
                lines[-1] += f", ×{shares[1] / shares[0]:.2f} judge yes share"
            lines[-1] += "."
        return lines


# -- helpers ------------------------------------------------------------------------------------------------
def _hash_order(values: Iterable[str]) -> list[str]:
    return sorted(values, key=lambda v: hashlib.sha256(v.encode()).hexdigest())


def _ref(label: str, row: dict[str, Any]) -> str:
    key = {"Item": row.get("x_asin"), "Store": row.get("x_name"), "Category": row.get("x_path")}.get(label)
    return f"{label}:{key}"


def _triples(results: Sequence[MiningResult]) -> list[MinedTriple]:
    return [MinedTriple(str(r.source.ref), t.relation, t.ref) for r in results for t in r.targets]


def _reviewers(graph: Graph, asins: Iterable[str]) -> dict[str, set[str]]:
    rows = graph.query("mokg/eval_reviewers", asins=sorted(set(asins)))
    return {str(r["asin"]): {str(u) for u in r["users"]} for r in rows}


@dataclass
class _Seeds:
    asins: list[str]
    titles: dict[str, str]
    supkg: list[tuple[str, str, str]]  # (seed ref, relation, other ref), every SupKG link of a seed
    held_out: set[tuple[str, str]]  # (seed ref, item ref) held-out ALSO_BOUGHT pairs
    visible_items: dict[str, set[str]]  # seed asin -> directly linked item asins still visible
    names: dict[str, str]  # item ref -> title, for the seeds and the items linked to them
    excluded: int  # candidates left out (config.exclude)


def _load_seeds(graph: Graph, config: EvalConfig) -> _Seeds:
    candidates = [
        str(r["asin"]) for r in graph.query("mokg/eval_seed_candidates", min_reviews=config.min_reviews)
    ]
    left_out = {f"Item:{a}" for a in candidates} & set(config.exclude or ())
    asins = [a for a in _hash_order(candidates) if f"Item:{a}" not in left_out][: config.seeds]
    supkg: list[tuple[str, str, str]] = []
    held_out: set[tuple[str, str]] = set()
    visible: dict[str, set[str]] = {a: set() for a in asins}
    names: dict[str, str] = {}
    for row in graph.query("mokg/eval_supkg_links", asins=asins):
        seed, relation, label = str(row["asin"]), str(row["relation"]), str(row["label"])
        other = _ref(label, row)
        supkg.append((f"Item:{seed}", relation, other))
        if label == "Item" and row.get("x_title"):
            names[other] = str(row["x_title"])
        if relation in _ITEM_LINKS and label == "Item":
            if is_held_out(seed, str(row["x_asin"]), config.holdout_share):
                if relation == "ALSO_BOUGHT":
                    held_out.add((f"Item:{seed}", other))
            else:
                visible[seed].add(str(row["x_asin"]))
    for row in graph.query("mokg/eval_store_mates", asins=asins):
        visible[str(row["asin"])].update(str(a) for a in row["items"])
    titles = {}
    for a in asins:
        source = fetch_source(graph, SourceRef("Item", a))
        titles[a] = source.name if source else a
        if source:
            names[f"Item:{a}"] = source.name
    return _Seeds(asins, titles, supkg, held_out, visible, names, len(left_out))


def _variant_row(
    graph: Graph,
    name: str,
    results: Sequence[MiningResult],
    seeds: _Seeds,
    embed: Callable[[Sequence[str]], Any],
    seconds: float,
    judge_answers: Answers | None = None,
) -> VariantRow:
    triples = _triples(results)
    seed_refs = [f"Item:{a}" for a in seeds.asins]
    existing = {t.ref for r in results for t in r.targets if t.matched_by != MatchKind.NEW}
    lists = [
        [t.candidate.name for t in r.targets if t.relation == rel.relation]
        for r in results
        for rel in r.relations
    ]
    counts = FilterCounts()
    for r in results:
        counts = counts + r.counts
    judged = [t.scorer_plausibility for r in results for t in r.targets if t.scorer_plausibility is not None]
    campaigns = _campaigns(graph, seeds, results)
    recall = also_bought_recall(triples, seeds.held_out, sources=seed_refs, relations=PRODUCT_RELATIONS)
    return VariantRow(
        variant=name,
        seeds=len(results),
        triples=len(set(triples)),
        relations_per_seed=sum(len(r.selection.selected) for r in results) / max(len(results), 1),
        aee=aee(triples, sources=seed_refs, existing=existing).value,
        novelty=novelty(triples, seeds.supkg).value,
        ilad=ilad([embed(names) for names in lists if len(names) >= 2]),
        ab_recovered=int(recall.numerator),
        ab_held_out=int(recall.denominator),
        counts=counts,
        llm_calls=sum(r.usage.calls for r in results),
        llm_cached=sum(r.usage.cached for r in results),
        completion_tokens=sum(r.usage.completion_tokens for r in results),
        seconds=round(seconds, 2),
        model=next((r.model for r in results if r.model), ""),
        prompt_tokens=sum(r.usage.prompt_tokens for r in results),
        scorer_plausibility=sum(judged) / len(judged) if judged else None,
        distinct_targets=len({(t.relation, t.target) for t in triples}),
        tac_audience=sum(c.mokg_audience for c in campaigns),
        tac_covered=sum(c.mokg_covered for c in campaigns),
        judge=judge_answers,
    )


def _examples(variant: str, results: Sequence[MiningResult], limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in results:
        for rel in r.relations:
            rows = [(c, "kept") for c in rel.aggregation.kept] + [
                (f.candidate, f"filtered: {f.reason}") for f in rel.aggregation.filtered
            ]
            for c, outcome in rows[:4]:
                out.append(
                    {
                        "variant": variant,
                        "seed": r.source.ref.id,
                        "relation": rel.relation,
                        "target": c.name,
                        "votes": c.votes,
                        "vote_share": c.vote_share,
                        "plausibility": c.plausibility,
                        "score": c.score,
                        "outcome": outcome,
                    }
                )
    return out[:limit]


def _campaigns(graph: Graph, seeds: _Seeds, results: Sequence[MiningResult]) -> list[CampaignRow]:
    """Audience coverage of each seed's buyers by SupKG-only and MoKG-expanded audiences."""
    targets_of: dict[str, set[str]] = defaultdict(set)  # item asin -> mined target refs
    for row in graph.query("mokg/mined_item_triples"):
        label = str(row["label"])
        ref = (
            row["key"]
            if label == "Entity"
            else f"{label}:{row['t_asin'] if label == 'Item' else row['t_name']}"
        )
        targets_of[str(row["asin"])].add(str(ref))
    for r in results:
        targets_of[r.source.ref.id].update(t.ref for t in r.targets)
    items_of: dict[str, set[str]] = defaultdict(set)  # target ref -> items pointing at it
    for asin, refs in targets_of.items():
        for ref in refs:
            items_of[ref].add(asin)

    mokg_items: dict[str, set[str]] = {}
    for a in seeds.asins:
        linked = {ref.removeprefix("Item:") for ref in targets_of[a] if ref.startswith("Item:")}
        sharing = {i for ref in targets_of[a] for i in items_of[ref]}
        mokg_items[a] = (seeds.visible_items[a] | linked | sharing) - {a}
    wanted = set(seeds.asins) | {i for items in mokg_items.values() for i in items}
    reviewers = _reviewers(graph, wanted)

    def audience(items: Iterable[str]) -> set[str]:
        return set().union(*(reviewers.get(i, set()) for i in items))

    rows = []
    for a in seeds.asins:
        buyers = reviewers.get(a, set())
        base = audience(seeds.visible_items[a] - {a})
        expanded = audience(mokg_items[a])
        rows.append(
            CampaignRow(
                a,
                seeds.titles[a],
                len(buyers),
                len(base),
                len(base & buyers),
                len(expanded),
                len(expanded & buyers),
            )
        )
    return rows


def teacher_sources_note(exclude: Sequence[str] | None, excluded: int) -> str:
    """How the seeds relate to the LightPAIR adapter's teacher sources, for the progress line and the report:
    ``exclude`` None means the adapter's record was not on this machine; "" when nothing was left out."""
    if exclude is None:
        return (
            "not checked against the LightPAIR adapter's teacher sources (its record is not on this "
            "machine), so they are not shown to be held out from its training"
        )
    return (
        f"{excluded} candidate items left out as the LightPAIR adapter's teacher sources" if excluded else ""
    )


def evaluate(rt: Runtime, config: EvalConfig, progress: Progress | None = None) -> EvalReport:
    say = progress or (lambda _: None)
    graph = rt.graph
    seeds = _load_seeds(graph, config)
    sources = [fetch_source(graph, SourceRef("Item", a), config.holdout_share) for a in seeds.asins]
    short = f" (of {config.seeds} asked: the candidates ran out)" if len(seeds.asins) < config.seeds else ""
    note = teacher_sources_note(config.exclude, seeds.excluded)
    left_out = f", {note}" if note else ""
    say(f"{len(seeds.asins)} seeds{short}, {len(seeds.held_out)} held-out ALSO_BOUGHT pairs{left_out}")
    rows: list[VariantRow] = []
    by_variant: dict[str, list[MiningResult]] = {}
    seconds: dict[str, float] = {}
    for name in config.variants:
        miner = rt.miner(config.variant_mining(name))
        t0 = time.perf_counter()
        results = []
        for i, source in enumerate(sources):
            if source is None:
                continue
            results.append(miner.mine(source))
            say(f"{name}: {i + 1}/{len(sources)} {source.ref} -> {len(results[-1].targets)} triples")
        by_variant[name] = results
        seconds[name] = time.perf_counter() - t0
    # the judge runs after all mining, so its calls neither count in nor warm the server for a variant's time
    agreement, judged = None, {}
    if config.judge_facts:
        agreement = _calibrate_judge(rt, seeds, config.judge_facts)
        ba = agreement.balanced_accuracy
        say(
            f"judge: balanced accuracy {'-' if ba is None else f'{ba:.2f}'} on SupKG facts against corruptions"
        )
        for name, results in by_variant.items():
            judged[name] = judge.ask(rt.llm, rt.schema, _statements(results))
            say(f"{name}: the judge says yes to {judged[name].yes} of {judged[name].asked} kept triples")
    for name, results in by_variant.items():
        rows.append(_variant_row(graph, name, results, seeds, rt.embed, seconds[name], judged.get(name)))
    # the per-campaign table (and the SupKG-only baseline every row is read against): full PAIR's, else the
    # first variant's, so that an evaluation of LightPAIR alone still has its baseline
    campaigns_variant = "full" if "full" in by_variant else next(iter(by_variant), "full")
    model = next((r.model for results in by_variant.values() for r in results if r.model), "")
    scorer = next((r.scorer_version for results in by_variant.values() for r in results), None)
    return EvalReport(
        created=stamp(),
        config={**asdict(config), "mining": config.mining.to_dict(), "excluded_candidates": seeds.excluded},
        model=model,
        scorer=scorer,
        seeds=tuple(seeds.asins),
        rows=tuple(rows),
        campaigns=tuple(_campaigns(graph, seeds, by_variant[campaigns_variant])) if by_variant else (),
        campaigns_variant=campaigns_variant,
        examples=tuple(  # PAIR's, and the student's beside them
            e
            for name in ("full", "lightpair")
            for e in _examples(name, by_variant.get(name, []), config.max_examples)
        ),
        judge=agreement,
    )


def _calibrate_judge(rt: Runtime, seeds: _Seeds, limit: int) -> Agreement:
    """The judge on the seeds' ALSO_BOUGHT facts (all of them: it sees no κ_S) and their corruptions."""
    facts = [(s, o) for s, relation, o in seeds.supkg if relation == "ALSO_BOUGHT" and o.startswith("Item:")]
    linked = {frozenset((s, o)) for s, _, o in seeds.supkg}
    positives, negatives = judge.calibration(facts, linked, seeds.names, limit)
    return Agreement(judge.ask(rt.llm, rt.schema, positives), judge.ask(rt.llm, rt.schema, negatives))


def _statements(results: Sequence[MiningResult]) -> list[judge.Statement]:
    """One statement per distinct mined triple, as ``_triples`` counts them."""
    by_triple: dict[tuple[str, str, str], judge.Statement] = {}
    for r in results:
        for t in r.targets:
            key = (str(r.source.ref), t.relation, t.ref)
            by_triple.setdefault(key, judge.Statement(r.source.name, t.relation, t.candidate.name))
    return list(by_triple.values())


def _plot(report: EvalReport, path: Path) -> None:
    """One panel per Table II/IV quantity, a bar per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.variant for r in report.rows]
    panels = [
        ("seeds per minute", [r.seeds_per_minute for r in report.rows]),
        ("LLM tokens per seed", [r.tokens_per_seed for r in report.rows]),
        ("scorer plausibility (kept triples)", [r.scorer_plausibility or 0.0 for r in report.rows]),
        ("campaign buyers covered (TAC)", [float(r.tac_covered) for r in report.rows]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.bar(range(len(names)), values, color=["#d95f02" if n == "lightpair" else "#1b9e77" for n in names])
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
    supkg = sum(c.supkg_covered for c in report.campaigns)
    if report.campaigns:
        axes[-1].axhline(supkg, color="grey", linestyle="--", label="SupKG only")
        axes[-1].legend(fontsize=8)
    fig.suptitle(f"PAIR evaluation, {len(report.seeds)} seed items", fontsize=11)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_report(report: EvalReport, out_dir: Path) -> tuple[Path, Path, Path]:
    """``pair-eval-<time>.md``, ``.json`` and ``.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"pair-eval-{report.created.replace(':', '')}"
    md, js, png = stem.with_suffix(".md"), stem.with_suffix(".json"), stem.with_suffix(".png")
    md.write_text(report.markdown())
    js.write_text(json.dumps(report.as_dict(), indent=2, default=str) + "\n")
    _plot(report, png)
    return md, js, png
