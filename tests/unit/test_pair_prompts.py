"""Prompt construction (each step shows exactly its knowledge), answer schemas and the relation filter."""

from __future__ import annotations

import pytest

from mokg.pair.prompts import (
    NONE_LISTED,
    PROGRESSIVE_STEPS,
    AnswerFormatError,
    Knowledge,
    SourceEntity,
    augmentation_plan,
    build_augmentation_prompt,
    build_relation_selection_prompt,
    filter_relations,
    parse_string_list,
    prompt_id,
    target_schema,
)
from mokg.pair.schema import RelationSchema

SOURCE = SourceEntity("Starbucks $25 Gift Card", "Item")
FACTS = ["brand: Starbucks", "category: Gift Cards", "also bought: Starbucks Coffee Mug"]
INHERITED = ["Coffee Lovers", "Office Workers"]


@pytest.fixture(scope="module")
def schema() -> RelationSchema:
    return RelationSchema.load()


def _user(prompt_messages: list[dict[str, str]]) -> str:
    assert [m["role"] for m in prompt_messages] == ["system", "user"]
    return prompt_messages[1]["content"]


def test_relation_selection_prompt_shows_facts_and_candidates_and_constrains_to_r_s(
    schema: RelationSchema,
) -> None:
    prompt = build_relation_selection_prompt(SOURCE, schema, FACTS)
    text = _user(prompt.messages)
    assert SOURCE.name in text
    assert all(f"- {fact}" in text for fact in FACTS)
    for spec in schema.candidates("Item"):
        assert f"{spec.id}: {spec.label} — {spec.description}" in text
    assert "SIMILAR_STORE" not in text  # a Store relation, outside R_s of an Item
    items = prompt.json_schema["properties"]["relations"]["items"]
    assert items == {"type": "string", "enum": list(schema.candidate_ids("Item"))}
    assert prompt.json_schema["required"] == ["relations"]
    assert prompt.json_schema["additionalProperties"] is False


def test_relation_selection_without_facts_says_none(schema: RelationSchema) -> None:
    text = _user(build_relation_selection_prompt(SourceEntity("Gift Cards", "Category"), schema).messages)
    assert f"product knowledge graph):\n{NONE_LISTED}" in text


@pytest.mark.parametrize("step", PROGRESSIVE_STEPS, ids=lambda s: s.name)
def test_each_augmentation_step_contains_exactly_its_knowledge(schema: RelationSchema, step) -> None:
    prompt = build_augmentation_prompt(step, SOURCE, "TARGET_AUDIENCE", schema, FACTS, INHERITED)
    text = _user(prompt.messages)
    relation = schema.relation("TARGET_AUDIENCE")
    audience = schema.entity_type("Audience").description
    # The query itself is always there.
    assert SOURCE.name in text and "Relation: Target Audience (TARGET_AUDIENCE)" in text
    has = {
        Knowledge.DOMAIN: relation.description in text and audience in text,
        Knowledge.SUPKG: all(fact in text for fact in FACTS),
        Knowledge.INHERITED: all(name in text for name in INHERITED),
    }
    # Partial leaks count too: no single fact or inherited name may appear in a step without that knowledge.
    leaks = {
        Knowledge.DOMAIN: relation.description in text or audience in text,
        Knowledge.SUPKG: any(fact in text for fact in FACTS),
        Knowledge.INHERITED: any(name in text for name in INHERITED),
    }
    for kind in Knowledge:
        assert has[kind] == (kind in step.knowledge), kind
        assert leaks[kind] == (kind in step.knowledge), kind
    assert prompt.knowledge == step.knowledge


def test_progressive_plan_builds_up_knowledge_and_single_step_has_everything_available() -> None:
    steps = augmentation_plan()
    assert [s.knowledge for s in steps] == [
        {Knowledge.DOMAIN},
        {Knowledge.DOMAIN, Knowledge.SUPKG},
        {Knowledge.DOMAIN, Knowledge.SUPKG, Knowledge.INHERITED},
    ]
    (single,) = augmentation_plan(progressive=False)
    assert single.knowledge == {Knowledge.DOMAIN, Knowledge.SUPKG}
    assert single.template not in {s.template for s in steps}


def test_prompt_ids_are_stable_per_template_and_distinct_across_templates(schema: RelationSchema) -> None:
    first = build_augmentation_prompt(PROGRESSIVE_STEPS[1], SOURCE, "OCCASION", schema, FACTS)
    other_source = build_augmentation_prompt(
        PROGRESSIVE_STEPS[1], SourceEntity("Gift Cards", "Category"), "OCCASION", schema
    )
    assert first.id == other_source.id == prompt_id("augment.domain_supkg", 1)
    assert first.instance_hash != other_source.instance_hash
    ids = {build_augmentation_prompt(s, SOURCE, "OCCASION", schema).id for s in augmentation_plan()}
    ids |= {p.id for p in [build_relation_selection_prompt(SOURCE, schema)]}
    ids |= {build_augmentation_prompt(augmentation_plan(False)[0], SOURCE, "OCCASION", schema).id}
    assert len(ids) == 5
    assert prompt_id("augment.domain", 1) != prompt_id("augment.domain", 2)


def test_augmentation_rejects_relation_outside_r_s(schema: RelationSchema) -> None:
    with pytest.raises(ValueError, match="SIMILAR_STORE is not a candidate relation of Item"):
        build_augmentation_prompt(PROGRESSIVE_STEPS[0], SOURCE, "SIMILAR_STORE", schema)


def test_facts_are_cleaned_deduplicated_and_capped(schema: RelationSchema) -> None:
    facts = ["  brand:   Starbucks ", "brand: Starbucks", "x" * 500, *[f"fact {i}" for i in range(30)]]
    text = _user(build_augmentation_prompt(PROGRESSIVE_STEPS[1], SOURCE, "OCCASION", schema, facts).messages)
    assert text.count("brand: Starbucks") == 1
    assert "x" * 200 not in text and "x" * 100 in text
    assert "fact 17" in text and "fact 18" not in text  # 20 facts: 2 above + fact 0..17


def test_target_schema_bounds_the_list() -> None:
    schema = target_schema(max_targets=4, max_chars=30)
    targets = schema["properties"]["targets"]
    assert targets["maxItems"] == 4
    assert targets["items"] == {"type": "string", "minLength": 1, "maxLength": 30}


def test_filter_relations_drops_and_reports_everything_outside_r_s() -> None:
    r_s = ["TARGET_AUDIENCE", "OCCASION", "RELATED_BRAND"]
    result = filter_relations(
        ["OCCASION", "Target Audience", "SIMILAR_STORE", "occasion", "made up", 3, None], r_s
    )
    assert result.selected == ("TARGET_AUDIENCE", "OCCASION")  # schema order, no duplicates
    assert result.named == ("OCCASION", "TARGET_AUDIENCE")  # the answer's order
    assert result.dropped == ("SIMILAR_STORE", "made up", "3", "None")
    assert filter_relations([], r_s).selected == ()


def test_parse_string_list_accepts_object_string_and_bare_list() -> None:
    assert parse_string_list('{"targets": ["a", "b"]}', "targets") == ["a", "b"]
    assert parse_string_list({"relations": ["X"]}, "relations") == ["X"]
    assert parse_string_list('["a"]', "targets") == ["a"]
    with pytest.raises(AnswerFormatError, match="not JSON"):
        parse_string_list("Sure! Here are", "targets")
    with pytest.raises(AnswerFormatError, match="expected"):
        parse_string_list('{"other": []}', "targets")
