"""`mokg pair distill` against the real servers: PAIR mines two Gift_Cards items inline with the real llama.cpp
server (one relation, n = 1, a low threshold so that some answers are kept), then the export is read back.

A third item is marked done by the run state statements without any kept triple (a source PAIR finished and
kept nothing): the export must report it, not drop it silently.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import GIFT_META, GIFT_REVIEWS, run_mokg

from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.pair import store
from mokg.pair.config import LIGHTPAIR_PASS, MiningConfig
from mokg.pair.distill import split_of
from mokg.pair.prompts import SourceEntity, build_source_pass_prompt, parse_source_pass
from mokg.pair.schema import RelationSchema
from mokg.pair.store import SourceRef
from mokg.stack.services import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.llm]

KEYS = ("Item:B00O3YJD4S", "Item:B001GXRQW0")
EMPTY = "Item:B005ESMF5G"
TEACHER, BY_STUDENT = "Item:B004Q7CK9M", "Item:B0091JKVU0"  # finished by the last test's own runs
# the cheapest mining that keeps something: one relation (no selection prompt), 3 steps x 1 sample, no
# scorer, and a threshold that a single vote with a modest type fit passes
MINING = ("--relation", "COMPLEMENTARY_PRODUCT", "--n-samples", "1", "--max-tokens", "64", "--no-scorer",
          "--threshold", "0.1")  # fmt: skip


@dataclass
class Mined:
    settings: Settings
    graph: Graph
    run_id: str


@pytest.fixture(scope="module")
def mined(
    graph_server: Settings, llm_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mined]:
    settings = scratch_database(graph_server, "distill")
    tmp = tmp_path_factory.mktemp("distill")
    with Graph(settings) as graph:
        apply_schema(graph)
        ingest(graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp / "rejects.jsonl")
        proc = run_mokg(
            "pair", "run", "--inline", *[a for k in KEYS for a in ("--key", k)], *MINING, settings=settings
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        run_id = proc.stdout.split()[2].rstrip(":")
        # finished in the same run, nothing kept
        source = store.fetch_source(graph, SourceRef.parse(EMPTY))
        assert source is not None and store.claim(graph, source, run_id, "test")
        store.mark_done(graph, source, run_id, {"pair_triples": 0})
        yield Mined(settings, graph, run_id)


def kept_triples(graph: Graph) -> dict[tuple[str, str], list[dict[str, Any]]]:
    rows = graph.run_text(
        "MATCH (s:Item)-[m]->(t) WHERE m.run_id IS NOT NULL "
        "RETURN s.asin AS asin, type(m) AS relation, properties(m) AS props",
        {},
        read_only=True,
    )
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[(f"Item:{r['asin']}", str(r["relation"]))].append(r["props"])
    return out


def distill(mined: Mined, out: Path, *args: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    proc = run_mokg("pair", "distill", "--out", str(out), *args, settings=mined.settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    records = [
        {**json.loads(line), "split": split}
        for split in ("train", "val")
        for line in (out / f"{split}.jsonl").read_text().splitlines()
    ]
    return proc.stdout, manifest, records


def test_distill_exports_the_kept_triples_with_provenance(mined: Mined, tmp_path: Path) -> None:
    graph = mined.graph
    kept = kept_triples(graph)
    assert kept, "the inline mining kept nothing for the test items"
    stdout, manifest, records = distill(mined, tmp_path, "--val-share", "0.5")

    c = manifest["counts"]
    assert f"distill: {c['records']} records (train {c['train']}, val {c['val']})" in stdout
    assert manifest["sources_without_triples"] == [EMPTY]  # reported, not skipped silently
    assert (c["sources_done"], c["sources_without_triples"], c["skipped"]) == (3, 1, 0)
    sources = {source for source, _ in kept}
    assert {r["source"] for r in records} == sources  # one record a source with kept triples
    assert c["records"] == len(records) == len(sources)
    # the run narrowed R_s to one relation: the record asks over that R_s, as the run's miner did
    asked = RelationSchema.load().narrowed(("COMPLEMENTARY_PRODUCT",))

    for record in records:
        assert split_of(record["source"], 0.5) == record["split"]  # the split is by source
        _, user_message, assistant = record["messages"]
        user = user_message["content"]
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
        context = store.fetch_source(graph, SourceRef.parse(record["source"]))
        assert context is not None and f'"{context.name}"' in user
        # κ_S and R_s exactly as the one-pass miner renders them
        expected = build_source_pass_prompt(
            SourceEntity(context.name, "Item"), asked, context.facts,
            max_targets=manifest["max_targets"], max_facts=manifest["max_facts"],
        )  # fmt: skip
        assert record["messages"][:2] == expected.messages and context.facts[0].split(":")[0] in user
        assert "COMPLEMENTARY_PRODUCT:" in user and "OCCASION:" not in user

        ((relation, names),) = parse_source_pass(assistant["content"])
        graph_props = kept[(record["source"], relation)]
        assert relation == "COMPLEMENTARY_PRODUCT" and record["relations"] == [relation]
        assert names and set(names) <= {p["name"] for p in graph_props}
        assert len(names) == min(manifest["max_targets"], len({p["name"] for p in graph_props}))
        prov = record["provenance"]
        assert prov["run_ids"] == [mined.run_id] and prov["models"] == [mined.settings.llm_model]
        by_name = {p["name"]: p for p in graph_props}
        for target in prov["targets"]:
            p = by_name[target["name"]]
            assert (target["votes"], target["plausibility"], target["score"]) == (
                p["votes"], p["plausibility"], p["score"]
            )  # fmt: skip
            assert target["run_id"] == mined.run_id and target["target"] and target["relation"] == relation
        assert [t["name"] for t in prov["targets"]] == names

    for split in ("train", "val"):
        body = (tmp_path / f"{split}.jsonl").read_bytes()
        assert manifest["files"][f"{split}.jsonl"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_distill_narrows_to_one_run(mined: Mined, tmp_path: Path) -> None:
    _, everything, records = distill(mined, tmp_path / "all", "--val-share", "1")
    assert everything["counts"]["train"] == 0 and all(r["split"] == "val" for r in records)
    _, one, _ = distill(mined, tmp_path / "one", "--run", mined.run_id, "--val-share", "1")
    assert one["data_sha256"] == everything["data_sha256"] and one["run_id"] == mined.run_id
    _, none, _ = distill(mined, tmp_path / "none", "--run", "no-such-run")
    assert (none["counts"]["sources_done"], none["counts"]["records"]) == (0, 0)


def test_distill_reports_a_teacher_source_without_triples_and_never_takes_the_students(
    mined: Mined, tmp_path: Path
) -> None:
    """Last in this file: it adds two runs to the shared graph. A source a PAIR run finished with nothing
    kept is reported; a source finished by a LightPAIR run is no teacher example, and neither are the
    triples a LightPAIR run wrote."""
    graph = mined.graph
    teacher, student = "teacher-run", "student-run"
    store.create_run(graph, teacher, MiningConfig().to_dict(), ["Item"], 1)
    lightpair = MiningConfig(miner="lightpair", adapter="v1", **LIGHTPAIR_PASS)
    store.create_run(graph, student, lightpair.to_dict(), ["Item"], 1)
    for key, run in ((TEACHER, teacher), (BY_STUDENT, student)):
        source = store.fetch_source(graph, SourceRef.parse(key))
        assert source is not None and store.claim(graph, source, run, "test")
        store.mark_done(graph, source, run, {"pair_triples": 0, "pair_model": "some-model"})

    _, manifest, records = distill(mined, tmp_path, "--val-share", "0")
    c = manifest["counts"]
    assert manifest["sources_by_student"] == [BY_STUDENT] and c["sources_by_student"] == 1
    assert BY_STUDENT not in {r["source"] for r in records}
    assert TEACHER in manifest["sources_without_triples"] and TEACHER not in {r["source"] for r in records}
    assert {r["task"] for r in records} == {"source_pass"}
