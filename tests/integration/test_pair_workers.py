"""PAIR workers end to end: a real Celery worker process, real Valkey, real ArcadeDB, the real llama.cpp server.

A few Gift_Cards items are mined with small settings (one or two relations, short answers, n = 3 samples).
The scenario runs in file order on one database: mine → re-run (no duplicates) → kill a worker mid-task and
restart it (nothing lost, completed once) → status, analyst queries, evaluation.

Three more tests use databases of their own with the two-item test fixture: the worker's resolution pool cache
against the real graph (a scripted LLM), and continuous mode (the beat task `enqueue_batch` and
`mokg pair run --continuous`; then the real beat of `mokg worker --beat`). The continuous-mode tests each run
a worker of their own on a separate broker database, so that it never takes another test's messages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, GIFT_META, GIFT_REVIEWS, MOKG_CLI, run_mokg, word_embed

from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.llm import LLMError
from mokg.llm.client import ChatRequest, ChatResult, parse_json_reply
from mokg.pair import store
from mokg.pair.config import MiningConfig
from mokg.pair.miner import Miner
from mokg.pair.pools import PoolCache
from mokg.pair.runs import plan_run, wait_for_run
from mokg.pair.runtime import Runtime, mine_entity
from mokg.pair.store import SourceRef
from mokg.stack.services import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.llm]

# Two items mined in the first run and the re-run, one more in the kill test. One relation keeps the LLM work
# small (a single candidate needs no selection prompt: 3 steps x 3 samples per item); Complementary Product
# exercises both kinds of target, new Product entities and existing SupKG items. The low threshold makes
# sure that some of the small model's answers land.
KEYS = ("Item:B00O3YJD4S", "Item:B001GXRQW0")
KILL_KEY = "Item:B005ESMF5G"
MINING = ("--relation", "COMPLEMENTARY_PRODUCT", "--max-tokens", "64", "--threshold", "0.3")
VISIBILITY_S = 8


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "ready." in self.log.read_text(errors="replace"):
                return
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        raise AssertionError(f"worker not ready in {timeout_s} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)  # `mokg worker` exec'd into the Celery worker: one process
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(
    settings: Settings,
    log: Path,
    env: dict[str, str] | None = None,
    visibility_s: float = VISIBILITY_S,
    args: Sequence[str] = (),
) -> Worker:
    env = env or {**os.environ, "MOKG_GRAPH_DATABASE": settings.graph_database}
    with log.open("ab") as f:
        proc = subprocess.Popen(
            [
                *MOKG_CLI,
                "worker",
                "--visibility-timeout",
                str(visibility_s),
                *args,
            ],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
        )
    worker = Worker(proc, log)
    worker.wait_ready()
    return worker


@dataclass
class PairEnv:
    settings: Settings
    graph: Graph
    worker: Worker
    logs: Path
    first_run: str


def source_state(graph: Graph, key: str) -> dict[str, Any]:
    ref = SourceRef.parse(key)
    rows = graph.run_text(
        "MATCH (i:Item {asin: $asin}) RETURN properties(i) AS p", {"asin": ref.id}, read_only=True
    )
    props: dict[str, Any] = rows[0]["p"]
    return props


def mined_triples(graph: Graph) -> list[dict[str, Any]]:
    return graph.run_text(
        "MATCH (s:Item)-[m]->(t) WHERE m.run_id IS NOT NULL "
        "RETURN s.asin AS asin, type(m) AS relation, elementId(t) AS target, properties(m) AS props",
        {},
        read_only=True,
    )


def entity_count(graph: Graph) -> int:
    return int(graph.run_text("MATCH (e:Entity) RETURN count(e) AS n", {}, read_only=True)[0]["n"])


def pair_run(settings: Settings, *args: str) -> str:
    proc = run_mokg("pair", "run", *args, *MINING, "--wait", "400", settings=settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def pair_env(
    graph_server: Settings,
    broker_server: Settings,
    llm_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PairEnv]:
    settings = scratch_database(graph_server, "pair")
    logs = tmp_path_factory.mktemp("pair-workers")
    with Graph(settings) as graph:
        apply_schema(graph)
        ingest(graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=logs / "rejects.jsonl")
        trained = run_mokg("pair", "train-scorer", "--max-triples", "300", "--epochs", "5", settings=settings)
        assert trained.returncode == 0, trained.stderr[-3000:]
        assert "validation AUC" in trained.stdout
        env = PairEnv(settings, graph, start_worker(settings, logs / "worker-1.log"), logs, "")
        try:
            out = pair_run(settings, *[a for k in KEYS for a in ("--key", k)])
            env.first_run = out.split()[2].rstrip(":")
            assert "done 2, failed 0" in out, out
            yield env
        finally:
            env.worker.stop()  # the worker of the last phase (the first one is killed on purpose)


def test_triples_land_with_provenance(pair_env: PairEnv) -> None:
    triples = mined_triples(pair_env.graph)
    assert triples, "the filter kept nothing for the test items"
    for t in triples:
        p = t["props"]
        for name in ("votes", "vote_share", "plausibility", "score", "prompt_ids", "model", "at", "run_id"):
            assert p.get(name) is not None, (name, p)
        assert p["run_id"] == pair_env.first_run and p["model"] == pair_env.settings.llm_model
        assert p["score"] >= 0.3 - 1e-9 and p["prompt_ids"] and p["steps"]
    for key in KEYS:
        state = source_state(pair_env.graph, key)
        assert (state["pair_status"], state["pair_completions"], state["pair_attempts"]) == ("done", 1, 1)
        assert state["pair_triples"] == sum(t["asin"] == SourceRef.parse(key).id for t in triples)
        # the aggregation and scorer visibly filtered: more candidates than kept triples
        assert state["pair_candidates"] > state["pair_kept"] >= state["pair_triples"]
        assert state["pair_relations"] == ["COMPLEMENTARY_PRODUCT"] and state["pair_llm_calls"] == 9


def test_rerun_adds_no_duplicates(pair_env: PairEnv) -> None:
    graph = pair_env.graph
    before = sorted((t["asin"], t["relation"], t["target"]) for t in mined_triples(graph))
    entities = entity_count(graph)
    out = pair_run(pair_env.settings, *[a for k in KEYS for a in ("--key", k)])
    assert "done 2, failed 0" in out, out
    usage = store.run_usage(graph, out.split()[2].rstrip(":"))
    assert (usage.sources, usage.calls, usage.cached) == (2, 18, 18)  # identical requests: all cached
    after = sorted((t["asin"], t["relation"], t["target"]) for t in mined_triples(graph))
    assert after == before and entity_count(graph) == entities
    for key in KEYS:
        state = source_state(graph, key)
        assert state["pair_completions"] == 2  # once per run
        assert state["pair_llm_cached"] == state["pair_llm_calls"]  # the same requests: all from the cache


def test_a_killed_worker_loses_nothing_and_the_source_completes_once(pair_env: PairEnv) -> None:
    graph = pair_env.graph
    proc = run_mokg("pair", "run", "--key", KILL_KEY, *MINING, settings=pair_env.settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    deadline = time.monotonic() + 120
    while source_state(graph, KILL_KEY).get("pair_status") != "running":
        assert time.monotonic() < deadline, "the worker never started the task"
        time.sleep(0.5)
    time.sleep(3)  # mid-task: some LLM requests are done, none of the triples is written
    pair_env.worker.kill()
    state = source_state(graph, KILL_KEY)
    assert (state["pair_status"], state["pair_attempts"]) == ("running", 1)
    assert not state.get("pair_completions")

    pair_env.worker = start_worker(pair_env.settings, pair_env.logs / "worker-2.log")
    deadline = time.monotonic() + 240  # visibility timeout, then the mining (partly cached)
    while source_state(graph, KILL_KEY).get("pair_status") != "done":
        assert time.monotonic() < deadline, pair_env.worker.log.read_text()[-3000:]
        time.sleep(1)
    state = source_state(graph, KILL_KEY)
    assert (state["pair_attempts"], state["pair_completions"]) == (2, 1)  # redelivered once, completed once
    asin = SourceRef.parse(KILL_KEY).id
    mine = [t for t in mined_triples(graph) if t["asin"] == asin]
    assert len(mine) == state["pair_triples"]
    assert len({(t["relation"], t["target"]) for t in mine}) == len(mine)  # no duplicate edges


def test_status_and_analyst_queries_show_the_mined_knowledge(pair_env: PairEnv) -> None:
    proc = run_mokg("pair", "status", settings=pair_env.settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Item" in proc.stdout and "done" in proc.stdout
    graph = pair_env.graph
    triples = mined_triples(graph)
    top = graph.query("analyst/mokg_top_targets", limit=3)
    assert {r["relation"] for r in top} == {t["relation"] for t in triples}
    assert all(1 <= len(r["top"]) <= 3 for r in top)
    asin = triples[0]["asin"]
    rows = graph.query("analyst/mokg_item_triples", asin=asin)
    assert len(rows) == sum(t["asin"] == asin for t in triples)
    assert all(r["model"] and r["prompt_ids"] and r["run_id"] for r in rows)
    a, b = (SourceRef.parse(k).id for k in KEYS)
    shared = graph.query("analyst/mokg_linking_entities", a=a, b=b)
    targets = {k: {t["target"] for t in triples if t["asin"] == k} for k in (a, b)}
    assert len(shared) == len(targets[a] & targets[b])


def test_failed_attempts_are_recorded_and_pools_cover_supkg(pair_env: PairEnv) -> None:
    class DownLLM:
        def chat_many(self, requests: object, progress: object = None) -> list[object]:
            raise LLMError("endpoint down (test)")

    graph = pair_env.graph
    rt = Runtime(pair_env.settings, graph=graph, llm=DownLLM())  # type: ignore[arg-type]
    config = MiningConfig(max_relations=1)
    ref = SourceRef("Store", "Starbucks")
    plan = plan_run(graph, config, keys=[ref])
    with pytest.raises(LLMError):
        mine_entity(graph, rt.miner(config), ref, plan.run_id)
    failures = {(f.type, f.id): f for f in store.status(graph).failures}
    assert failures[("Store", "Starbucks")].error == "LLMError: endpoint down (test)"
    # the other source types and pools, read without the LLM
    category = store.fetch_source(graph, SourceRef("Category", "Gift Cards > Gift Cards"))
    assert category is not None and any(f.startswith("Sold by: ") for f in category.facts)
    assert {e.ref.split(":")[0] for e in store.load_pool(graph, "Product")} >= {"Item"}
    assert any(e.ref == "Store:Starbucks" for e in store.load_pool(graph, "Brand"))
    for kind in ("Item", "Category"):
        picked = store.select_sources(graph, [kind], 3)
        assert len(picked) == 3 and {r.type for r, _ in picked} == {kind}
    stores = {r.id for r, _ in store.select_sources(graph, ["Store"], 10_000, max_failures=1)}
    assert "Starbucks" not in stores and len(stores) > 100  # failed by one run, no failed run left
    retry = {r.id for r, _ in store.select_sources(graph, ["Store"], 10_000, max_failures=2)}
    assert retry == stores | {"Starbucks"}


def test_eval_writes_a_report_with_ablation_rows_and_filter_counts(pair_env: PairEnv, tmp_path: Path) -> None:
    proc = run_mokg(
        "pair", "eval", "--seeds", "2", "--variant", "full", "--variant", "no_progressive",
        "--relation", "COMPLEMENTARY_PRODUCT", "--max-tokens", "48", "--judge-facts", "6", "--out", str(tmp_path),
        settings=pair_env.settings,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (report_path,) = tmp_path.glob("pair-eval-*.json")
    report = json.loads(report_path.read_text())
    assert [r["variant"] for r in report["rows"]] == ["full", "no_progressive"]
    full, single = report["rows"]
    assert full["seeds"] == 2 and full["counts"]["candidates"] >= full["counts"]["kept"]
    assert (full["llm_calls"], single["llm_calls"]) == (2 * 9, 2 * 3)  # 3 steps or 1 step, n = 3
    assert single["llm_cached"] == single["llm_calls"]  # one step = the progressive κ_D+κ_S prompt, cached
    assert len(report["campaigns"]) == 2 and all(c["buyers"] >= 2 for c in report["campaigns"])
    markdown = (tmp_path / report_path.with_suffix(".md").name).read_text()
    assert "removed by plausibility" in markdown
    # the LLM judge, calibrated on the seeds' ALSO_BOUGHT facts (every seed has one) through the same server
    judge = report["judge"]
    assert judge["model"] == report["model"] and 1 <= judge["facts"]["asked"] <= 6
    assert 1 <= judge["corruptions"]["asked"] <= judge["facts"]["asked"]
    answered = [judge[k]["asked"] - judge[k]["unparsed"] for k in ("facts", "corruptions")]
    assert answered[0] >= 1 and answered[1] >= 1  # constrained decoding: the answers can be read
    assert 0.0 <= judge["balanced_accuracy"] <= 1.0
    assert all(r["judge"]["asked"] == r["triples"] for r in report["rows"])  # each distinct triple, once
    assert "## LLM judge" in markdown


# -- the worker's resolution pools against the real graph (scripted LLM: no server) -----------------------
FIXTURE_ITEMS = (SourceRef("Item", "P0TEST0001"), SourceRef("Item", "P0TEST0002"))
ONE_SAMPLE = {"relations": ("COMPLEMENTARY_PRODUCT",), "n_samples": 1, "max_tokens": 16, "use_scorer": False}


def fixture_graph(settings: Settings, tmp: Path) -> Graph:
    graph = Graph(settings)
    apply_schema(graph)
    ingest(
        graph,
        reviews=FIXTURES / "amazon2023_reviews.jsonl",
        meta=FIXTURES / "amazon2023_meta.jsonl",
        rejects_path=tmp / "rejects.jsonl",
    )
    return graph


class FixedLLM:
    """Answers every prompt with the same target names."""

    def __init__(self, *names: str) -> None:
        self.names = list(names)

    def chat_many(self, requests: Sequence[ChatRequest], progress: object = None) -> list[ChatResult]:
        text = json.dumps({"targets": self.names})
        return [ChatResult(text, parse_json_reply(text), 10, 5, False, "fixed-llm") for _ in requests]


def product_targets(graph: Graph) -> list[dict[str, Any]]:
    return graph.run_text(
        "MATCH (s:Item)-[m:COMPLEMENTARY_PRODUCT]->(t) "
        "RETURN s.asin AS asin, elementId(t) AS node, t.key AS key, m.matched_by AS matched_by, m.run_id AS run",
        {},
        read_only=True,
    )


def test_worker_pools_see_their_own_entities_and_never_link_a_removed_one(
    fresh_settings: Settings, tmp_path: Path
) -> None:
    config = MiningConfig(type_fit=False, **ONE_SAMPLE)  # type: ignore[arg-type]
    a, b = FIXTURE_ITEMS
    with fixture_graph(fresh_settings, tmp_path) as graph:
        llm = FixedLLM("zz test widget")
        rt = Runtime(fresh_settings, graph=graph, llm=llm, embed=word_embed)  # type: ignore[arg-type]
        run = plan_run(graph, config, keys=[a, b]).run_id
        assert rt.mine(a, run, config).triples == 1
        loads = rt.pools.loads
        llm.names = ["ZZ Test Widgets"]
        assert rt.mine(b, run, config).triples == 1
        # the second task linked the first one's entity from the process's pool, without reloading it
        assert rt.pools.loads == loads
        targets = {t["asin"]: t for t in product_targets(graph)}
        assert (
            targets[b.id]["node"] == targets[a.id]["node"]
            and targets[a.id]["key"] == "Product:zz-test-widget"
        )
        assert (targets[a.id]["matched_by"], targets[b.id]["matched_by"]) == ("new", "normalized")
        assert entity_count(graph) == 1
        # what another process's top-up reads: the entities created since a time
        recent = store.entities_since(graph, "2000-01-01T00:00:00.000000Z")
        assert [(k, e.ref, e.node_id) for k, e in recent] == [
            ("Product", "Product:zz-test-widget", targets[a.id]["node"])
        ]
        assert store.entities_since(graph, "2999-01-01T00:00:00.000000Z") == []

        # a process whose pool never saw the entity resolves the name as new: MERGE on the key, no duplicate
        blind = PoolCache(lambda _: [], word_embed)
        stale = Miner(llm, rt.schema, word_embed, blind, config)  # type: ignore[arg-type]
        assert mine_entity(graph, stale, a, plan_run(graph, config, keys=[a]).run_id).triples == 1
        assert entity_count(graph) == 1 and len(product_targets(graph)) == 2

        # the entity is deleted and another one created (ArcadeDB may hand it the freed element id): the cached
        # pool still names it, but a resolution never links a node that is gone or is another node now
        graph.run_text("MATCH (e:Entity {key: 'Product:zz-test-widget'}) DETACH DELETE e", {})
        graph.run_text(
            "CREATE (:Entity {key: 'Product:other-thing', name: 'other thing', type: 'Product', "
            "created_at: '2000-01-01T00:00:00.000000Z'})",
            {},
        )
        loads = rt.pools.loads
        run3 = plan_run(graph, config, keys=[b]).run_id
        assert rt.mine(b, run3, config).triples == 1
        assert rt.pools.loads == loads + 1  # the liveness check failed: reloaded and resolved again
        (target,) = [t for t in product_targets(graph) if t["run"] == run3]
        assert (target["key"], target["matched_by"]) == ("Product:zz-test-widget", "new")
        assert entity_count(graph) == 2


# -- continuous mode: the beat task and `mokg pair run --continuous` -----------------------------------------
def isolated(graph_server: Settings, name: str, broker_db: int) -> tuple[Settings, dict[str, str]]:
    """A scratch database and a broker database of its own (no other test's worker takes these messages),
    and the environment of a worker process that uses them."""
    settings = scratch_database(graph_server, name)
    base, _, _ = settings.broker().rpartition("/")
    broker = f"{base}/{broker_db}"
    return settings, {**os.environ, "MOKG_GRAPH_DATABASE": settings.graph_database, "MOKG_BROKER_URL": broker}


def test_continuous_mode_enqueues_what_needs_mining_and_then_nothing(
    graph_server: Settings,
    broker_server: Settings,
    llm_settings: Settings,
    tmp_path: Path,
) -> None:
    from mokg.apps.workers.app import make_app

    settings, env = isolated(graph_server, "paircont", broker_db=1)
    broker = env["MOKG_BROKER_URL"]
    mining = {**ONE_SAMPLE, "relations": ["COMPLEMENTARY_PRODUCT"]}  # JSON, as beat would send it
    with fixture_graph(settings, tmp_path) as graph:
        expected = {str(ref) for ref, _ in store.select_sources(graph, ["Item", "Store"], 100)}
        assert {str(r) for r in FIXTURE_ITEMS} < expected  # the two items and their stores
        worker = start_worker(settings, tmp_path / "worker.log", env=env, visibility_s=600)
        app = make_app(settings.with_(broker_url=broker))
        try:
            entry = app.conf.beat_schedule["pair-continuous"]  # what beat sends, with smaller work
            kwargs = {**entry["kwargs"], "types": ["Item", "Store"], "config": mining}

            def beat_tick(runs_before: int) -> store.RunRow:
                app.send_task(entry["task"], kwargs=kwargs)
                deadline = time.monotonic() + 120
                while len(runs := store.status(graph, runs=10).runs) == runs_before:
                    assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
                    time.sleep(0.5)
                return runs[0]

            first = beat_tick(0)
            assert first.enqueued == len(expected) and first.config["n_samples"] == 1
            counts = wait_for_run(graph, first.run, timeout_s=300, poll_s=1)
            assert counts == {"pending": 0, "running": 0, "done": len(expected), "failed": 0}, counts
            second = beat_tick(1)  # everything is done and within the 30-day re-mining cut-off
            assert second.enqueued == 0 and store.run_counts(graph, second.run)["done"] == 0

            status = run_mokg("pair", "status", env=env)
            assert status.returncode == 0, status.stderr[-3000:]
            cells = [[c.strip() for c in line.split("│")[1:-1]] for line in status.stdout.splitlines()]
            rows = {c[0]: c[1:] for c in cells if len(c) == 6}  # type | never pending running done failed
            assert rows["Item"] == ["0", "0", "0", "2", "0"], status.stdout
            assert rows["Store"][3] == str(len(expected) - 2) and rows["Category"][0] != "0", status.stdout

            # the command-line loop, bounded: two batches re-mine the items (a re-mining cut-off of 0.09 s);
            # the same configuration sends the same requests, so the LLM cache answers them
            cli = run_mokg(
                "pair", "run", "--continuous", "--max-batches", "2",
                "--interval", "1", "--type", "Item", "--redo-after-days", "0.000001", "--wait", "120",
                "--relation", "COMPLEMENTARY_PRODUCT", "--n-samples", "1", "--max-tokens", "16", "--no-scorer",
                env=env, timeout=300,
            )  # fmt: skip
            assert cli.returncode == 0, cli.stderr[-3000:]
            assert cli.stdout.count(": 2 sources,") == 2 and cli.stdout.count("done 2, failed 0") == 2, (
                cli.stdout
            )
            for ref in FIXTURE_ITEMS:
                state = source_state(graph, str(ref))
                assert (state["pair_status"], state["pair_completions"]) == ("done", 3)
                assert state["pair_llm_cached"] == state["pair_llm_calls"] == 3
        finally:
            worker.stop()
            app.close()


def test_the_real_beat_mines_what_needs_mining_and_then_enqueues_nothing(
    graph_server: Settings,
    broker_server: Settings,
    llm_settings: Settings,
    tmp_path: Path,
) -> None:
    settings, env = isolated(graph_server, "pairbeat", broker_db=2)
    beat = [
        "--beat", "--interval", "2", "--limit", "10", "--type", "Item", "--relation", "COMPLEMENTARY_PRODUCT",
        "--n-samples", "1", "--max-tokens", "16", "--no-scorer",
        f"--schedule-filename={tmp_path / 'celerybeat-schedule'}",  # passed to Celery: not the session home's
    ]  # fmt: skip
    with fixture_graph(settings, tmp_path) as graph:
        worker = start_worker(settings, tmp_path / "beat.log", env=env, visibility_s=600, args=beat)
        deadline = time.monotonic() + 180
        try:

            def wait(what: str, ready: Callable[[], bool]) -> None:
                while not ready():
                    assert time.monotonic() < deadline, f"{what}:\n{worker.log.read_text()[-3000:]}"
                    time.sleep(1)

            def statuses() -> list[str]:
                return [str(source_state(graph, str(ref)).get("pair_status")) for ref in FIXTURE_ITEMS]

            wait(
                "the beat never mined the items", lambda: "failed" in statuses() or statuses() == ["done"] * 2
            )
            assert statuses() == ["done", "done"]
            done_at = len(store.status(graph, runs=1000).runs)
            wait(
                "no beat run after the items were done",
                lambda: len(store.status(graph, runs=1000).runs) > done_at,
            )
            runs = store.status(graph, runs=1000).runs
            assert runs[0].enqueued == 0  # done within the 30-day cut-off: nothing needs mining
            (mined,) = [r for r in runs if r.enqueued]  # one batch took both items, the others found nothing
            assert mined.enqueued == 2
            assert store.run_counts(graph, mined.run) == {"pending": 0, "running": 0, "done": 2, "failed": 0}
            for run in runs:  # every batch with the schedule the options set
                assert run.types == ("Item",) and run.config["n_samples"] == 1, run
                assert run.config["relations"] == ["COMPLEMENTARY_PRODUCT"] and run.config["max_tokens"] == 16
                assert run.config["use_scorer"] is False
            assert "Sending due task pair-continuous" in worker.log.read_text()  # Celery's own beat sent them
        finally:
            worker.stop()
