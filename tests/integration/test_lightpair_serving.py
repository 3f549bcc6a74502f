"""LightPAIR served by the embedded llama-server and mining through the Celery workers (issue 16, items 3-4).

A tiny adapter is trained in seconds (tests/conftest.py's cards, on q/k/v/o so that both rotary permutations
matter), saved with its GGUF LoRA, and loaded by a llama-server of this module's own (`mokg stack up`'s llm
service with MOKG_LLM_LORA=latest, on its own port and home). Then:

* the served adapter answers as PEFT does on the same weights, and the base model's answers in the same
  server are untouched by it, before and after adapter requests (the KV-cache pitfall of build_request_body);
* `mokg pair run --miner lightpair` mines fixture items through a real worker: one request per relation,
  triples whose provenance names the adapter, the run's configuration saying which miner it was;
* a worker killed mid-task while mining with LightPAIR loses and duplicates nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import (
    GIFT_META,
    GIFT_REVIEWS,
    LIGHTPAIR_CACHE,
    LIGHTPAIR_CARDS,
    LIGHTPAIR_RELATION,
    MOKG_CLI,
    _free_port,
    lightpair_record,
    run_mokg,
    write_tiny_distill,
)
from test_pair_workers import FIXTURE_ITEMS, fixture_graph, mined_triples, source_state, start_worker

from mokg.config import Settings
from mokg.ingest import ingest
from mokg.llm import LLMClient
from mokg.llm.adapters import AdapterNotServed, served_adapter
from mokg.llm.client import ChatRequest
from mokg.llm.local import base_model, load_student
from mokg.pair.evaluation import EvalConfig, _load_seeds
from mokg.pair.lightpair import (
    LightPairConfig,
    LightPairResult,
    lightpair_root,
    load_adapter,
    load_distill,
    train,
)
from mokg.stack import down, up
from mokg.stack.services import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.llm]

CONFIG = LightPairConfig(
    epochs=20, max_steps=4, lr=3e-3, batch_size=4, max_length=512, seed=7,
    target_modules=("q_proj", "k_proj", "v_proj", "o_proj"),
)  # fmt: skip
MAX_TOKENS = 16


@dataclasses.dataclass
class Served:
    settings: Settings  # the llama-server with the adapter (its own home and port)
    adapter: LightPairResult


@pytest.fixture(scope="module")
def served(graph_server: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("lightpair-home")
    data = write_tiny_distill(tmp_path_factory.mktemp("distill"), real_prompt=True)
    base = base_model(graph_server)
    result = train(load_distill(data), base, lightpair_root(home), config=CONFIG, cache_root=LIGHTPAIR_CACHE)
    settings = dataclasses.replace(graph_server, home=home, llm_port=_free_port(), llm_lora="latest")
    up(settings, ["llm"])
    try:
        yield Served(settings, result)
    finally:
        down(settings, ["llm"])


def prompts() -> list[list[dict[str, str]]]:
    return [lightpair_record(n, a, i, True)["messages"][:-1] for i, (n, a) in enumerate(LIGHTPAIR_CARDS)]


def replies(client: LLMClient) -> list[str]:
    return [
        r.text.strip() for r in client.chat_many([ChatRequest(m, None, 0.0, MAX_TOKENS) for m in prompts()])
    ]


def test_the_served_adapter_answers_as_peft_does_and_the_base_model_stays_itself(served: Served) -> None:
    s, version = served.settings, served.adapter.version
    adapter = served_adapter(s, version)
    assert (adapter.version, adapter.lora_id, adapter.model) == (version, 0, s.llm_model)
    # one request at a time: requests batched together round differently, and this overfit adapter has ties
    one = dataclasses.replace(s, llm_parallel=1)
    base_client = LLMClient(one, use_cache=False)
    student = LLMClient(one, use_cache=False, adapter=adapter)
    before, tuned, after = replies(base_client), replies(student), replies(base_client)

    model, tokenizer = load_student(base_model(s), LIGHTPAIR_CACHE)
    peft = load_adapter(served.adapter.path, model)
    expected = []
    for messages in prompts():
        ids = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            out = peft.generate(**ids, max_new_tokens=MAX_TOKENS, do_sample=False)
        expected.append(
            tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        )

    # F16 weights on the server, float32 in torch: a near-tie may part one greedy reply, never most of them
    agree = sum(a == b for a, b in zip(tuned, expected, strict=True))
    assert agree >= len(expected) - 1, [(a, b) for a, b in zip(tuned, expected, strict=True) if a != b]
    assert sum(t.startswith('{"relations"') for t in tuned) >= len(tuned) - 1, tuned  # what it was taught
    assert sum(a != b for a, b in zip(tuned, before, strict=True)) >= len(tuned) - 1, (tuned, before)
    assert after == before  # base requests after adapter requests: the same replies (no stale KV cache)
    assert student.model == f"{s.llm_model}+lora:{version}"


def test_an_adapter_the_server_lacks_is_named_in_the_error(served: Served) -> None:
    with pytest.raises(
        AdapterNotServed, match=rf"does not serve LightPAIR adapter 000000000000 .*{served.adapter.version}"
    ):
        served_adapter(served.settings, "000000000000")


@pytest.fixture(scope="module")
def mining(
    served: Served, graph_server: Settings, broker_server: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    settings = scratch_database(graph_server, "lightpair")
    logs = tmp_path_factory.mktemp("lightpair-workers")
    graph = fixture_graph(settings, logs)  # the two fixture items, mined below
    ingest(
        graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=logs / "gift.rejects.jsonl"
    )  # eval seeds
    env = {
        **os.environ,
        "MOKG_GRAPH_DATABASE": settings.graph_database,
        "MOKG_LLM_PORT": str(served.settings.llm_port),
    }
    state = {"settings": settings, "graph": graph, "env": env, "logs": logs}
    state["worker"] = start_worker(settings, logs / "worker-1.log", env=env)
    try:
        yield state
    finally:
        state["worker"].stop()
        graph.close()


LIGHTPAIR_RUN = ("pair", "run", "--miner", "lightpair", "--no-scorer", "--threshold", "0.01")


def lightpair_run(mining: dict[str, Any], version: str, *args: str) -> str:
    proc = run_mokg(*LIGHTPAIR_RUN, "--adapter", version, *args, env=mining["env"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_lightpair_mines_through_the_workers_in_one_pass_with_its_provenance(
    served: Served, mining: dict[str, Any]
) -> None:
    version, graph = served.adapter.version, mining["graph"]
    keys = [a for ref in FIXTURE_ITEMS for a in ("--key", str(ref))]
    out = lightpair_run(mining, version, *keys, "--relation", LIGHTPAIR_RELATION, "--wait", "300")
    run_id = out.split()[2].rstrip(":")
    assert "done 2, failed 0" in out, out
    for ref in FIXTURE_ITEMS:
        state = source_state(graph, str(ref))
        # one relation, one pass, one sample: a single request (PAIR sends 3 steps x 3 samples here)
        assert (state["pair_status"], state["pair_llm_calls"], state["pair_relations"]) == (
            "done",
            1,
            [LIGHTPAIR_RELATION],
        )
    triples = mined_triples(graph)
    assert triples, "the student's answers left no triple"
    for t in triples:
        assert t["props"]["model"] == f"{served.settings.llm_model}+lora:{version}", t
        assert t["props"]["run_id"] == run_id and t["props"]["steps"] == ["source_pass"], t
    run = graph.run_text(
        "MATCH (r:PairRun {id: $id}) RETURN r.config AS config", {"id": run_id}, read_only=True
    )
    config = json.loads(run[0]["config"])
    assert (config["miner"], config["adapter"], config["n_samples"], config["source_pass"]) == (
        "lightpair",
        version,
        1,
        True,
    )


def test_a_worker_killed_mid_lightpair_task_loses_and_doubles_nothing(
    served: Served, mining: dict[str, Any]
) -> None:
    graph, key = mining["graph"], str(FIXTURE_ITEMS[1])
    before = {"pair_completions": source_state(graph, key).get("pair_completions") or 0}
    # one source-pass request over all of R_s (its prompt alone about a second on 2 cores): killed as soon as
    # the worker has claimed the source, while that request is out. Watched while the command still runs:
    # under load the task was done before the command's exit returned, and the wait for "running" timed out.
    args = ("--adapter", served.adapter.version, "--key", key, "--max-tokens", "96", "--no-relation-filter")
    cli = subprocess.Popen(
        [*MOKG_CLI, *LIGHTPAIR_RUN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=mining["env"],
    )
    deadline = time.monotonic() + 120
    while source_state(graph, key).get("pair_status") != "running":
        assert time.monotonic() < deadline, "the worker never started the task"
        assert cli.poll() in (None, 0), f"`mokg pair run` exited with {cli.returncode}"
        time.sleep(0.02)
    mining["worker"].kill()
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err[-3000:]
    run_id = out.split()[2].rstrip(":")
    state = source_state(graph, key)
    assert state["pair_status"] == "running" and state["pair_completions"] == before["pair_completions"], (
        state
    )

    mining["worker"] = start_worker(mining["settings"], mining["logs"] / "worker-2.log", env=mining["env"])
    deadline = time.monotonic() + 240  # the visibility timeout, then the mining (partly cached)
    while source_state(graph, key).get("pair_status") != "done":
        assert time.monotonic() < deadline, mining["worker"].log.read_text()[-3000:]
        time.sleep(1)
    state = source_state(graph, key)
    assert state["pair_completions"] == before["pair_completions"] + 1  # completed once more, not twice
    assert state["pair_attempts"] == 2  # in this run: the killed attempt, then the redelivery
    mine = [t for t in mined_triples(graph) if t["asin"] == key.split(":")[1]]
    assert len([t for t in mine if t["props"]["run_id"] == run_id]) == state["pair_triples"] >= 1
    assert len({(t["relation"], t["target"]) for t in mine}) == len(mine)  # no duplicate edges


def test_pair_eval_compares_lightpair_with_pair_on_the_same_seeds(
    served: Served, mining: dict[str, Any], tmp_path: Path
) -> None:
    version = served.adapter.version
    # the CLI's home gets the adapter's record (the server has its own home), so the seeds can be checked
    here = lightpair_root(Path(mining["env"]["MOKG_HOME"])) / version
    shutil.copytree(served.adapter.path, here)
    try:
        proc = run_mokg(
            "pair", "eval", "--seeds", "2", "--variant", "full", "--variant", "lightpair", "--adapter", version,
            "--relation", LIGHTPAIR_RELATION, "--no-scorer", "--n-samples", "1", "--max-tokens", "16",
            "--fresh", "--judge-facts", "4", "--out", str(tmp_path), env=mining["env"],
        )  # fmt: skip
    finally:
        shutil.rmtree(here)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (report_path,) = tmp_path.glob("pair-eval-*.json")
    report = json.loads(report_path.read_text())
    full, light = report["rows"]
    assert (full["variant"], light["variant"]) == ("full", "lightpair")
    assert (full["seeds"], light["seeds"]) == (2, 2)
    assert (full["llm_calls"], light["llm_calls"]) == (2 * 3, 2 * 1)  # 3 progressive steps, or one pass
    assert full["llm_cached"] == light["llm_cached"] == 0  # --fresh: every call reached the server
    assert (
        light["model"] == f"{served.settings.llm_model}+lora:{version}"
        and full["model"] == served.settings.llm_model
    )
    for row in (full, light):
        assert row["seeds_per_minute"] > 0 and row["tokens_per_seed"] > 0 and row["tac_audience"] >= 0
        assert min(row["triples"], 1) <= row["distinct_targets"] <= row["triples"]
    assert report["config"]["adapter"] == version
    # the seeds leave out every source the adapter's data read (none of the tiny set's is in this graph)
    info = json.loads((served.adapter.path / "lightpair.json").read_text())
    assert report["config"]["exclude"] == info["data"]["sources"] and len(info["data"]["sources"]) == 9
    assert report["config"]["excluded_candidates"] == 0
    # the student's candidates are shown beside PAIR's
    for row in (full, light):
        shown = [e for e in report["examples"] if e["variant"] == row["variant"]]
        assert sum(e["outcome"] == "kept" for e in shown) <= row["counts"]["kept"]
        assert bool(shown) == (row["counts"]["candidates"] > 0)  # kept + filtered; malformed never voted
    # one judge for both rows: the base model, never the adapter being judged
    assert report["judge"]["model"] == served.settings.llm_model
    for row in (full, light):
        assert row["judge"]["asked"] == row["triples"]
        assert row["judge"]["model"] in ("", served.settings.llm_model)  # "": nothing kept, nothing asked
        assert row["judge"]["model"] or not row["triples"]
    assert "LightPAIR against full PAIR" in report_path.with_suffix(".md").read_text()
    assert report_path.with_suffix(".png").stat().st_size > 10_000

    # without the record (an adapter served from elsewhere), the evaluation runs and says it could not check
    proc = run_mokg(
        "pair", "eval", "--seeds", "1", "--variant", "lightpair", "--adapter", version, "--no-scorer",
        "--relation", LIGHTPAIR_RELATION, "--judge-facts", "0", "--out", str(tmp_path / "elsewhere"),
        env=mining["env"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (unchecked,) = (tmp_path / "elsewhere").glob("pair-eval-*.json")
    alone = json.loads(unchecked.read_text())
    assert alone["config"]["exclude"] is None
    # LightPAIR alone still gets the per-campaign table and its SupKG-only baseline
    assert alone["campaigns_variant"] == "lightpair" and len(alone["campaigns"]) == 1
    assert "not shown to be held out" in unchecked.with_suffix(".md").read_text()


def test_pair_eval_seeds_leave_out_the_sources_the_student_learned_from(mining: dict[str, Any]) -> None:
    graph = mining["graph"]
    first = _load_seeds(graph, EvalConfig(seeds=3))
    assert len(first.asins) == 3 and first.excluded == 0
    taught = (f"Item:{first.asins[0]}", "Item:B0NOTACANDIDATE")  # a teacher source, and one never a seed
    after = _load_seeds(graph, EvalConfig(seeds=3, exclude=taught))
    # the same hash order without the taught item: the next candidate takes its place
    assert after.asins[:2] == first.asins[1:] and after.asins[2] not in first.asins
    assert after.excluded == 1
