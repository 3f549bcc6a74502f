"""Prompts of PAIR: bounded relation selection and progressive entity augmentation (§ Framework Overview).

Three kinds of knowledge go into the prompts:

* κ_D, domain knowledge: the relation schema (type and relation descriptions, ``relations.json``);
* κ_S, SupKG knowledge: short fact strings about the source from its SupKG neighbourhood;
* κ_I, inherited knowledge: targets accepted at the earlier augmentation steps.

**Relation selection** shows κ_S and κ_D (the candidate set R_s with descriptions) and constrains the
answer with a JSON schema to a subset of R_s; :func:`filter_relations` still drops anything outside R_s
(backends that ignore the schema, or ablations without it) and reports what it dropped.

**Progressive augmentation** for a selected (s, r) runs the steps of :data:`PROGRESSIVE_STEPS`:

1. ``domain``: κ_D only — what the relation and target type mean, the model's own knowledge of s;
2. ``domain_supkg``: κ_D + κ_S — grounded in the source's SupKG facts;
3. ``domain_supkg_inherited``: κ_D + κ_S + κ_I — also shown the targets accepted from steps 1–2
   (aggregate those steps and pass the kept names), and asked for the *complete* list again.

Each step is one context κ of eq. (1), P(r,t|s) = Σ_κ P(κ|s) P(r|s,κ) P(t|s,κ,r): P(r|s,κ) is the
relation selection, P(t|s,κ,r) is estimated by the n samples of the step's prompt and P(κ|s) is the step
weight (uniform by default); :func:`mokg.pair.aggregation.aggregate` forms the weighted mixture. Because
step 3 asks for the complete list rather than only new targets, every step estimates the same distribution
and the votes of all steps are comparable. The "-Pr" ablation (``augmentation_plan(progressive=False)``)
is a single step with all knowledge available before any step has run: κ_D + κ_S (κ_I is necessarily empty).

Every prompt carries a stable ``id`` (hash of template name and version) for provenance: bump the version
when a template's wording changes. Messages are OpenAI chat messages (``[{"role", "content"}]``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mokg.pair.schema import RelationSchema, RelationSpec

RELATION_SELECTION = "relation_selection"
RELATION_SELECTION_VERSION = 1
AUGMENTATION_VERSION = 1
SOURCE_PASS = "source_pass"
SOURCE_PASS_VERSION = 1
NONE_LISTED = "(none)"


class Knowledge(StrEnum):
    DOMAIN = "domain"  # κ_D
    SUPKG = "supkg"  # κ_S
    INHERITED = "inherited"  # κ_I


@dataclass(frozen=True)
class AugmentationStep:
    name: str
    knowledge: frozenset[Knowledge]
    weight: float = 1.0  # P(κ|s), normalised over the plan by the aggregation

    @property
    def template(self) -> str:
        return f"augment.{self.name}"


PROGRESSIVE_STEPS: tuple[AugmentationStep, ...] = (
    AugmentationStep("domain", frozenset({Knowledge.DOMAIN})),
    AugmentationStep("domain_supkg", frozenset({Knowledge.DOMAIN, Knowledge.SUPKG})),
    AugmentationStep("domain_supkg_inherited", frozenset(Knowledge)),
)
SINGLE_STEP: tuple[AugmentationStep, ...] = (
    AugmentationStep("all_in_one", frozenset({Knowledge.DOMAIN, Knowledge.SUPKG})),
)


def augmentation_plan(progressive: bool = True) -> tuple[AugmentationStep, ...]:
    """The prompt steps for one (s, r); ``progressive=False`` gives the "-Pr" ablation (a single step)."""
    return PROGRESSIVE_STEPS if progressive else SINGLE_STEP


def prompt_id(template: str, version: int) -> str:
    """Stable provenance id of a prompt template."""
    return hashlib.sha256(f"{template}@v{version}".encode()).hexdigest()[:16]


SOURCE_PASS_ID = prompt_id(SOURCE_PASS, SOURCE_PASS_VERSION)  # what distilled records and adapters answer to


@dataclass(frozen=True)
class SourceEntity:
    name: str
    entity_type: str


@dataclass(frozen=True)
class Prompt:
    id: str
    template: str
    version: int
    messages: list[dict[str, str]]
    json_schema: dict[str, Any]
    knowledge: frozenset[Knowledge]

    @property
    def instance_hash(self) -> str:
        """Hash of the exact messages and schema, e.g. as an LLM response cache key."""
        payload = json.dumps([self.messages, self.json_schema], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


class AnswerFormatError(ValueError):
    """An LLM answer is not the JSON the prompt asked for."""


@dataclass(frozen=True)
class RelationFilterResult:
    selected: tuple[str, ...]  # relation ids inside R_s, in schema order, without duplicates
    dropped: tuple[str, ...]  # answer items outside R_s, as given (non-strings via repr)
    named: tuple[str, ...] = ()  # the selected ids in the order the answer first named them


# -- shared rendering ---------------------------------------------------------------------------------------
def _clean(items: Sequence[str], limit: int, max_chars: int) -> list[str]:
    """Whitespace-collapsed, de-duplicated, length-capped items, at most ``limit`` of them."""
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        text = " ".join(str(item).split())
        if len(text) > max_chars:
            text = text[: max_chars - 1].rstrip() + "…"
        if text and text not in seen:
            seen.add(text)
            out.append(text)
        if len(out) == limit:
            break
    return out


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {item}" for item in items) if items else NONE_LISTED


def _string_list_schema(key: str, items: dict[str, Any], max_items: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": items, "maxItems": max_items}},
        "required": [key],
        "additionalProperties": False,
    }


def _source_line(source: SourceEntity) -> str:
    return f'Source entity: "{source.name}" (type: {source.entity_type})'


def _type_line(schema: RelationSchema, entity_type: str, role: str) -> str:
    return f"{role} type {entity_type}: {schema.entity_type(entity_type).description}"


def _over_r_s(
    template: str,
    version: int,
    system: str,
    source: SourceEntity,
    schema: RelationSchema,
    facts: Sequence[str],
    question: str,
    json_schema: dict[str, Any],
    max_facts: int,
    max_chars: int,
) -> Prompt:
    """A prompt over all of R_s (κ_D + κ_S): the source, its facts, its type and the candidate relations, then
    the ``question``."""
    relation_lines = [
        f"{spec.id}: {spec.label} — {spec.description} (target type: {spec.target_type})"
        for spec in schema.candidates(source.entity_type)
    ]
    parts = [
        _source_line(source),
        "Known facts about the source (from the product knowledge graph):\n"
        + _bullets(_clean(facts, max_facts, max_chars)),
        "Domain knowledge:\n" + _bullets([_type_line(schema, source.entity_type, "Source")]),
        "Candidate relations:\n" + _bullets(relation_lines),
        question,
    ]
    return Prompt(
        id=prompt_id(template, version),
        template=template,
        version=version,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}],
        json_schema=json_schema,
        knowledge=frozenset({Knowledge.DOMAIN, Knowledge.SUPKG}),
    )


# -- relation selection -------------------------------------------------------------------------------------
_SELECTION_SYSTEM = (
    "You are a marketing knowledge engineer extending a marketing-oriented knowledge graph. "
    "Given a source entity, choose the candidate relations for which the source has clear, "
    "marketing-relevant target entities. Use only relation ids from the candidate list. "
    "Answer with JSON only."
)


def relation_selection_schema(candidates: Sequence[str]) -> dict[str, Any]:
    """JSON schema constraining the answer to a subset of R_s: ``{"relations": [enum of R_s]}``."""
    return _string_list_schema("relations", {"type": "string", "enum": list(candidates)}, len(candidates))


def build_relation_selection_prompt(
    source: SourceEntity,
    schema: RelationSchema,
    facts: Sequence[str] = (),
    max_facts: int = 20,
    max_fact_chars: int = 200,
) -> Prompt:
    """P(r|s,κ): the relation selection prompt for ``source`` with κ_S = ``facts`` and κ_D = R_s."""
    return _over_r_s(
        RELATION_SELECTION,
        RELATION_SELECTION_VERSION,
        _SELECTION_SYSTEM,
        source,
        schema,
        facts,
        'Select every candidate relation that applies to the source. Answer as {"relations": [ids]}.',
        relation_selection_schema(schema.candidate_ids(source.entity_type)),
        max_facts,
        max_fact_chars,
    )


def _as_relation_id(value: str) -> str:
    # Tolerates labels and casing ("Target Audience", "target_audience") from unconstrained backends.
    return re.sub(r"[^A-Z0-9]+", "_", value.upper()).strip("_")


def filter_relations(answer: Sequence[object], candidates: Sequence[str]) -> RelationFilterResult:
    """Keep the answer items that name a relation of R_s = ``candidates``; report the others."""
    allowed = set(candidates)
    chosen: dict[str, None] = {}  # insertion-ordered: the answer's order
    dropped: list[str] = []
    for item in answer:
        rel = _as_relation_id(item) if isinstance(item, str) else ""
        if rel in allowed:
            chosen.setdefault(rel)
        else:
            dropped.append(item if isinstance(item, str) else repr(item))
    return RelationFilterResult(tuple(c for c in candidates if c in chosen), tuple(dropped), tuple(chosen))


def parse_string_list(answer: str | Mapping[str, Any] | Sequence[Any], key: str) -> list[Any]:
    """The list under ``key`` of a JSON answer (a JSON string or decoded object); a bare list is accepted."""
    value: Any = answer
    if isinstance(answer, str):
        try:
            value = json.loads(answer)
        except (json.JSONDecodeError, RecursionError) as exc:  # nesting past the parser's stack: no JSON
            raise AnswerFormatError(f"answer is not JSON: {answer[:200]!r}") from exc
    if isinstance(value, Mapping):
        value = value.get(key)
    if not isinstance(value, list):
        raise AnswerFormatError(f'expected {{"{key}": [...]}} or a list, got {answer!r:.200}')
    return value


# -- progressive entity augmentation ------------------------------------------------------------------------
_AUGMENT_SYSTEM = (
    "You are a marketing knowledge engineer extending a marketing-oriented knowledge graph. "
    "Given a source entity and a relation, list target entities that complete the relation. "
    "Each target is a short name of 1 to 5 words, not a sentence. List only targets you are confident about. "
    "Answer with JSON only."
)


def target_schema(max_targets: int = 10, max_chars: int = 60) -> dict[str, Any]:
    """JSON schema of the target-generation answer: ``{"targets": [short strings]}``, at most max_targets."""
    return _string_list_schema(
        "targets", {"type": "string", "minLength": 1, "maxLength": max_chars}, max_targets
    )


def build_augmentation_prompt(
    step: AugmentationStep,
    source: SourceEntity,
    relation: RelationSpec | str,
    schema: RelationSchema,
    facts: Sequence[str] = (),
    inherited: Sequence[str] = (),
    max_targets: int = 10,
    max_facts: int = 20,
    max_chars: int = 200,
) -> Prompt:
    """P(t|s,κ,r) for one step: the prompt contains exactly the knowledge of ``step.knowledge``.

    ``facts`` (κ_S) and ``inherited`` (κ_I) are ignored by steps that do not use them, so a driver may pass
    the same arguments to every step of the plan. ``relation`` may be a spec or a relation id.
    """
    if isinstance(relation, str):
        relation = schema.relation(relation)
    if relation.id not in schema.candidate_ids(source.entity_type) or relation.target_type is None:
        raise ValueError(f"{relation.id} is not a candidate relation of {source.entity_type} sources")
    knows = step.knowledge
    parts = [_source_line(source) + f"\nRelation: {relation.label} ({relation.id})"]
    if Knowledge.DOMAIN in knows:
        domain = [
            _type_line(schema, source.entity_type, "Source"),
            f"{relation.label} means: {relation.description}",
            _type_line(schema, relation.target_type, "Target"),
        ]
        parts.append("Domain knowledge:\n" + _bullets(domain))
    if Knowledge.SUPKG in knows:
        parts.append(
            "Known facts about the source (from the product knowledge graph):\n"
            + _bullets(_clean(facts, max_facts, max_chars))
        )
    if Knowledge.INHERITED in knows:
        parts.append(
            "Targets already accepted for this relation:\n"
            + _bullets(_clean(inherited, max_targets, max_chars))
            + "\nReturn the complete list: repeat the accepted targets that are correct and add new ones."
        )
    parts.append(f'List up to {max_targets} targets. Answer as {{"targets": [names]}}.')
    return Prompt(
        id=prompt_id(step.template, AUGMENTATION_VERSION),
        template=step.template,
        version=AUGMENTATION_VERSION,
        messages=[
            {"role": "system", "content": _AUGMENT_SYSTEM},
            {"role": "user", "content": "\n\n".join(parts)},
        ],
        json_schema=target_schema(max_targets),
        knowledge=knows,
    )


# -- one pass per source (LightPAIR) ------------------------------------------------------------------------
_SOURCE_PASS_SYSTEM = (
    "You are a marketing knowledge engineer extending a marketing-oriented knowledge graph. "
    "Given a source entity, choose the candidate relations for which the source has clear, "
    "marketing-relevant target entities, and list the targets of each. Use only relation ids from the "
    "candidate list. Each target is a short name of 1 to 5 words, not a sentence. List only targets you are "
    "confident about. Answer with JSON only."
)


def source_pass_schema(
    candidates: Sequence[str], max_targets: int = 10, max_chars: int = 60
) -> dict[str, Any]:
    """``{"relations": [{"relation": id of R_s, "targets": [short names]}]}``: at least one relation, each
    with at least one target (under a grammar the small model otherwise answers nothing)."""
    entry = {
        "type": "object",
        "properties": {
            "relation": {"type": "string", "enum": list(candidates)},
            # PAIR's own target list (the same bounds on a name), here with at least one
            "targets": {**target_schema(max_targets, max_chars)["properties"]["targets"], "minItems": 1},
        },
        "required": ["relation", "targets"],
        "additionalProperties": False,
    }
    schema = _string_list_schema("relations", entry, len(candidates))
    schema["properties"]["relations"]["minItems"] = 1
    return schema


def build_source_pass_prompt(
    source: SourceEntity,
    schema: RelationSchema,
    facts: Sequence[str] = (),
    max_targets: int = 10,
    max_facts: int = 20,
    max_chars: int = 200,
) -> Prompt:
    """P(r,t|s) in one answer: κ_S and κ_D (R_s with descriptions and target types), answered as the
    relations that apply and the targets of each. What a distilled student is asked (one request a source
    instead of a selection and a prompt per relation); the answer's relations are bounded by R_s's enum."""
    return _over_r_s(
        SOURCE_PASS,
        SOURCE_PASS_VERSION,
        _SOURCE_PASS_SYSTEM,
        source,
        schema,
        facts,
        f"For each candidate relation that applies to the source, list up to {max_targets} targets. "
        'Answer as {"relations": [{"relation": id, "targets": [names]}]}.',
        source_pass_schema(schema.candidate_ids(source.entity_type), max_targets),
        max_facts,
        max_chars,
    )


def _whole_entries(text: str) -> Any:
    """A source-pass answer cut off by the token limit, closed after its last whole entry: under the JSON
    grammar the text is a prefix of a valid answer, so the entries before the cut are the model's own."""
    ends = [i for i, ch in enumerate(text) if ch == "}"]
    for end in reversed(ends):
        try:
            return json.loads(text[: end + 1] + "]}")
        except json.JSONDecodeError:
            continue
    raise AnswerFormatError(f"answer is not JSON: {text[:200]!r}")


def parse_source_pass(text: str) -> list[tuple[object, list[Any]]]:
    """The (relation, targets) entries of a one-pass answer's text, in its order; an answer cut off by the
    token limit keeps its whole entries (read from the text: a lenient JSON reader would take the first
    entry for the answer). An entry that is not an object with a targets list raises
    :class:`AnswerFormatError` (the miner counts the sample malformed)."""
    body = text.strip()
    try:
        try:
            answer = json.loads(body)
        except json.JSONDecodeError:
            starts = [i for i in (body.find("{"), body.find("[")) if i >= 0]
            body = body[min(starts) :] if starts else body  # a fence or a word before the answer
            try:
                answer = json.loads(body)
            except json.JSONDecodeError:
                answer = _whole_entries(body)
    except RecursionError as exc:  # nested past the parser's stack: as malformed as any other non-JSON
        raise AnswerFormatError(f"answer is not JSON (nested too deeply): {text[:200]!r}") from exc
    out: list[tuple[object, list[Any]]] = []
    for entry in parse_string_list(answer, "relations"):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("targets"), list):
            raise AnswerFormatError(f"expected {{relation, targets}} entries, got {entry!r:.200}")
        out.append((entry.get("relation"), entry["targets"]))
    return out
