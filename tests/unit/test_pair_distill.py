"""LightPAIR's distillation records from rows (no graph): the prompt, the answer, provenance and the split.

The graph side (the named statements, `mokg pair distill`) runs in tests/integration/test_pair_distill_export.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mokg.pair.distill import (
    KeptTriple,
    build_dataset,
    build_record,
    run_config,
    split_of,
    triple_from_row,
    write_dataset,
)
from mokg.pair.prompts import SourceEntity, build_source_pass_prompt, parse_source_pass, prompt_id
from mokg.pair.schema import RelationSchema
from mokg.pair.store import SourceContext, SourceRef

SCHEMA = RelationSchema.load()


def context(key: str, name: str = "Starbucks Gift Card") -> SourceContext:
    return SourceContext(SourceRef.parse(key), "#1:1", name, ("Sold by: Starbucks", "Category: Gift Cards"))


def triple(source: str, relation: str, name: str, score: float, run: str = "r1", **props: Any) -> KeptTriple:
    base = {"name": name, "score": score, "votes": 3, "vote_share": 0.5, "plausibility": 0.8,
            "model": "smollm2", "run_id": run, "prompt_ids": ["p1"], "steps": ["domain"]}  # fmt: skip
    return KeptTriple(source, relation, name, f"Entity:{name}", {**base, **props})


def test_the_split_is_by_source_deterministic_and_near_the_share() -> None:
    keys = [f"Item:B{i:09d}" for i in range(2000)]
    first = {k: split_of(k, 0.2) for k in keys}
    assert first == {k: split_of(k, 0.2) for k in keys}  # stable
    val = sum(v == "val" for v in first.values())
    assert 300 < val < 500  # about 20%
    assert all(split_of(k, 0.0) == "train" for k in keys[:50])
    assert all(split_of(k, 1.0) == "val" for k in keys[:50])
    # a larger share only moves sources from train to val (a threshold on one hash)
    assert {k for k in keys if first[k] == "val"} <= {k for k in keys if split_of(k, 0.4) == "val"}
    with pytest.raises(ValueError):
        split_of("Item:X", 1.5)


def test_a_record_is_the_source_pass_prompt_with_each_relations_kept_names_best_first() -> None:
    src = context("Item:B0SOURCE")
    triples = [
        triple("Item:B0SOURCE", "OCCASION", "birthday", 0.7, "r1"),
        triple("Item:B0SOURCE", "OCCASION", "christmas", 0.9, "r2", model="other"),
        triple("Item:B0SOURCE", "OCCASION", "birthday", 0.6, "r2"),  # kept again by a later run: once
        triple("Item:B0SOURCE", "TARGET_AUDIENCE", "coffee lovers", 0.8, "r1"),
    ]
    record = build_record(src, triples, SCHEMA, max_targets=5, max_facts=12)
    system, user, assistant = record["messages"]
    expected = build_source_pass_prompt(
        SourceEntity(src.name, "Item"), SCHEMA, src.facts, max_targets=5, max_facts=12
    )
    assert [system, user] == expected.messages  # the miner's own rendering, not a copy of it
    text = user["content"]
    assert "Sold by: Starbucks" in text and SCHEMA.relation("OCCASION").description in text
    assert assistant["role"] == "assistant"
    # the shape the one-pass miner reads, the relation with the best kept score first (OCCASION's 0.9 beats
    # TARGET_AUDIENCE's 0.8, though the schema lists TARGET_AUDIENCE first)
    assert parse_source_pass(assistant["content"]) == [
        ("OCCASION", ["christmas", "birthday"]),
        ("TARGET_AUDIENCE", ["coffee lovers"]),
    ]
    assert (record["source"], record["relations"], record["task"]) == (
        "Item:B0SOURCE", ["OCCASION", "TARGET_AUDIENCE"], "source_pass"
    )  # fmt: skip
    prov = record["provenance"]
    assert prov["prompt_id"] == expected.id
    assert prov["run_ids"] == ["r1", "r2"] and prov["models"] == ["other", "smollm2"]
    assert [(t["relation"], t["name"], t["run_id"], t["votes"]) for t in prov["targets"]] == [
        ("OCCASION", "christmas", "r2", 3),
        ("OCCASION", "birthday", "r1", 3),
        ("TARGET_AUDIENCE", "coffee lovers", "r1", 3),
    ]
    with pytest.raises(ValueError, match="SIMILAR_STORE"):  # not a relation of Item sources
        build_record(src, [triple("Item:B0SOURCE", "SIMILAR_STORE", "shop", 0.9)], SCHEMA, 5, 12)


def test_records_are_grouped_by_source_split_by_source_and_gaps_are_reported(tmp_path: Path) -> None:
    keys = [f"Item:B{i:09d}" for i in range(40)]
    triples = [triple(k, rel, f"{rel.lower()} {i}", 0.6) for i, k in enumerate(keys[:30])
               for rel in ("OCCASION", "TARGET_AUDIENCE")]  # fmt: skip
    triples.append(triple("Item:NOTDONE", "OCCASION", "x", 0.9))  # being re-mined: not a finished answer
    triples.append(triple(keys[30], "SIMILAR_STORE", "shop", 0.9))  # not a relation of Item sources
    contexts: dict[str, SourceContext | None] = {k: context(k) for k in keys[:31]}
    contexts[keys[29]] = None  # the node is gone
    data = build_dataset(keys, triples, contexts, SCHEMA, val_share=0.3)

    assert data.without_triples == keys[31:]  # done, nothing kept: reported
    assert {(s.source, s.relation) for s in data.skipped} == {
        (keys[29], "OCCASION"), (keys[29], "TARGET_AUDIENCE"), (keys[30], "SIMILAR_STORE")
    }  # fmt: skip
    train, val = data.sources("train"), data.sources("val")
    assert train and val and not set(train) & set(val)
    assert set(train) | set(val) == set(keys[:29])  # keys[30] kept only a relation it cannot have: no record
    assert all(split_of(k, 0.3) == "val" for k in val)
    for records in (data.train, data.val):
        order = [r["source"] for r in records]
        assert order == sorted(set(order))  # one record a source, in key order
        assert all(
            len(r["messages"]) == 3 and r["relations"] == ["TARGET_AUDIENCE", "OCCASION"] for r in records
        )

    manifest = write_dataset(data, tmp_path, val_share=0.3, run_id="r1", schema_version=SCHEMA.version)
    lines = {s: (tmp_path / f"{s}.jsonl").read_bytes() for s in ("train", "val")}
    assert [json.loads(x) for x in lines["train"].splitlines()] == data.train
    assert manifest == json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"]["val.jsonl"] == {
        "records": len(data.val), "sources": len(val), "sha256": hashlib.sha256(lines["val"]).hexdigest()
    }  # fmt: skip
    c = manifest["counts"]
    assert (c["sources_done"], c["sources_with_triples"], c["sources_without_triples"]) == (40, 31, 9)
    assert (c["records"], c["train"] + c["val"], c["skipped"], c["targets"]) == (29, 29, 3, 58)
    assert manifest["version"] == 2 and manifest["prompt"]["template"] == "source_pass"
    assert manifest["prompt"]["id"] == prompt_id("source_pass", 1)
    assert manifest["sources_without_triples"] == keys[31:] and manifest["run_id"] == "r1"
    assert manifest["split"]["by"] == "source" and manifest["split"]["val_share"] == 0.3
    # the same rows give the same bytes
    again = write_dataset(
        build_dataset(keys, list(reversed(triples)), contexts, SCHEMA, val_share=0.3), tmp_path / "again",
        val_share=0.3,
    )  # fmt: skip
    assert again["data_sha256"] == manifest["data_sha256"]


def test_answers_are_capped_at_the_prompts_max_targets() -> None:
    key = "Item:B0SOURCE"
    triples = [triple(key, "OCCASION", f"occasion {i}", i / 10) for i in range(8)]
    data = build_dataset([key], triples, {key: context(key)}, SCHEMA, val_share=0.0, max_targets=3)
    (record,) = data.train
    assert json.loads(record["messages"][2]["content"]) == {
        "relations": [{"relation": "OCCASION", "targets": ["occasion 7", "occasion 6", "occasion 5"]}]
    }
    assert "list up to 3 targets" in record["messages"][1]["content"]
    assert data.capped_targets == 5


def test_a_graph_row_becomes_a_kept_triple() -> None:
    props = {"name": "gift box", "run_id": "r1", "score": 0.8}
    row = {"type": "Item", "id": "B0X", "relation": "COMPLEMENTARY_PRODUCT", "props": props,
           "labels": ["Entity"], "key": "Product:gift-box", "asin": None, "t_name": "Gift Box", "t_title": None}  # fmt: skip
    assert triple_from_row(row) == KeptTriple(
        "Item:B0X", "COMPLEMENTARY_PRODUCT", "gift box", "Product:gift-box", props
    )
    linked = {**row, "props": {"run_id": "r1"}, "labels": ["Item"], "key": None, "asin": "B0Y", "t_name": None,
              "t_title": "Applebee's Gift Card", "type": "Store", "id": "Applebee's"}  # fmt: skip
    t = triple_from_row(linked)
    assert (t.source, t.target, t.name) == ("Store:Applebee's", "Item:B0Y", "Applebee's Gift Card")


def test_the_prompt_asks_over_the_r_s_its_teacher_run_mined_over() -> None:
    """A run narrowed to some relations answered only those: the record asks only those, so that its answer
    is complete for its question; a kept triple outside them is reported."""
    key, whole = "Item:B0NARROW", "Item:B0WHOLE"
    triples = [
        triple(key, "OCCASION", "birthday", 0.9),
        triple(key, "TARGET_AUDIENCE", "coffee lovers", 0.9, "r0"),  # an earlier run over all of R_s
        triple(whole, "OCCASION", "birthday", 0.9),
    ]
    contexts: dict[str, SourceContext | None] = {key: context(key), whole: context(whole)}
    data = build_dataset(
        [key, whole], triples, contexts, SCHEMA, val_share=0.0, narrowed={key: ("OCCASION", "GIFT_RECIPIENT")}
    )
    narrow, full = data.train
    assert narrow["source"] == key and narrow["relations"] == ["OCCASION"]
    asked = narrow["messages"][1]["content"]
    assert "GIFT_RECIPIENT:" in asked and "TARGET_AUDIENCE:" not in asked
    assert "TARGET_AUDIENCE:" in full["messages"][1]["content"]  # not narrowed: all of R_s
    (skipped,) = data.skipped
    assert (skipped.source, skipped.relation) == (key, "TARGET_AUDIENCE") and "R_s" in skipped.reason


def test_a_run_config_is_read_leniently() -> None:
    assert run_config('{"miner": "pair", "relation_filter": true, "relations": []}')["miner"] == "pair"
    assert run_config(None) == {} and run_config("{not json") == {} and run_config("[1]") == {}
