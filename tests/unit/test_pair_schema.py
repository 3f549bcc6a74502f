"""The shipped relation schema and the validation of malformed schema files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mokg.pair.schema import RelationSchema, SchemaError

REQUIRED = {
    "TARGET_AUDIENCE",
    "USAGE_SCENARIO",
    "COMPLEMENTARY_PRODUCT",
    "SIMILAR_PRODUCT",
    "RELATED_BRAND",
    "OCCASION",
    "GIFT_RECIPIENT",
}


@pytest.fixture(scope="module")
def schema() -> RelationSchema:
    return RelationSchema.load()


@pytest.fixture
def raw() -> dict[str, Any]:
    path = Path(__file__).resolve().parents[2] / "platform" / "mokg" / "pair" / "relations.json"
    return json.loads(path.read_text())


def test_shipped_schema_has_required_types_and_relations(schema: RelationSchema) -> None:
    assert set(schema.source_types) == {"Item", "Category", "Store"}
    assert {"Audience", "Scenario", "Occasion", "Brand", "Product"} <= set(schema.entity_types)
    assert set(schema.candidate_ids("Item")) >= REQUIRED
    assert schema.relation("RELATED_BRAND").target_type == "Brand"
    assert schema.relation("GIFT_RECIPIENT").target_type == "Audience"
    for source in schema.source_types:
        for spec in schema.candidates(source):
            assert spec.target_type in schema.entity_types
            assert spec.description


def test_candidates_keep_schema_order_and_reject_non_sources(schema: RelationSchema) -> None:
    assert schema.candidate_ids("Store")[0] == "TARGET_AUDIENCE"
    with pytest.raises(KeyError, match="not a source type"):
        schema.candidates("Audience")


def test_describe_covers_mining_and_supkg_relations(schema: RelationSchema) -> None:
    assert schema.describe("TARGET_AUDIENCE").startswith("Target Audience: groups of people")
    assert schema.describe("ALSO_BOUGHT").startswith("Also Bought: ")
    assert "ALSO_BOUGHT" not in schema.candidate_ids("Item")
    with pytest.raises(KeyError, match="unknown relation"):
        schema.describe("NOPE")


def test_load_from_path_matches_packaged(raw: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "relations.json"
    path.write_text(json.dumps(raw))
    loaded = RelationSchema.load(path)
    assert loaded.candidate_ids("Category") == tuple(raw["candidates"]["Category"])
    assert loaded.version == raw["version"]


def _broken(raw: dict[str, Any], edit: str) -> dict[str, Any]:
    data = copy.deepcopy(raw)
    if edit == "unknown_target":
        data["relations"]["TARGET_AUDIENCE"]["target_type"] = "Audiance"
    elif edit == "lower_id":
        data["relations"]["target_audience"] = data["relations"].pop("TARGET_AUDIENCE")
    elif edit == "unknown_candidate":
        data["candidates"]["Item"].append("MADE_UP")
    elif edit == "duplicate_candidate":
        data["candidates"]["Item"].append("OCCASION")
    elif edit == "non_source_candidates":
        data["candidates"]["Audience"] = ["TARGET_AUDIENCE"]
    elif edit == "missing_description":
        del data["relations"]["OCCASION"]["description"]
    elif edit == "unknown_key":
        data["relations"]["OCCASION"]["targt_type"] = "Occasion"
    elif edit == "unused_relation":
        data["candidates"]["Store"].remove("SIMILAR_STORE")
    elif edit == "supkg_clash":
        data["supkg_relations"]["OCCASION"] = {"label": "x", "description": "y"}
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("unknown_target", r"relations\.TARGET_AUDIENCE\.target_type: 'Audiance' is not a declared"),
        ("lower_id", r"relations\.target_audience: relation ids are UPPER_SNAKE"),
        ("unknown_candidate", r"candidates\.Item: 'MADE_UP' is not a declared relation"),
        ("duplicate_candidate", r"candidates\.Item: a relation is listed twice"),
        ("non_source_candidates", r"candidates\.Audience: .* not marked"),
        ("missing_description", r"relations\.OCCASION: missing keys \['description'\]"),
        ("unknown_key", r"relations\.OCCASION: unknown keys \['targt_type'\]"),
        ("unused_relation", r"\['SIMILAR_STORE'\] are not a candidate"),
        ("supkg_clash", r"\['OCCASION'\] are also mining relations"),
    ],
)
def test_validation_names_the_offending_path(raw: dict[str, Any], edit: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        RelationSchema.from_dict(_broken(raw, edit))


def test_duplicate_json_keys_and_bad_json_fail_with_file_name(tmp_path: Path) -> None:
    dup = tmp_path / "dup.json"
    dup.write_text('{"version": "1", "version": "2"}')
    with pytest.raises(SchemaError, match=r"dup\.json: duplicate key 'version'"):
        RelationSchema.load(dup)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaError, match=r"bad\.json: invalid JSON"):
        RelationSchema.load(bad)
