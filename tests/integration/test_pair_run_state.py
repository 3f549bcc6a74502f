"""The run state of PAIR sources against the real graph, without an LLM: how often a failing source is tried
again, across runs (pair_failures) and within one (deliveries), and that a task failing before it could mine
still leaves its error on the source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GIFT_META, GIFT_REVIEWS, word_embed

from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.llm import LLMError
from mokg.pair import store
from mokg.pair.config import MiningConfig
from mokg.pair.miner import Miner
from mokg.pair.runs import plan_run
from mokg.pair.runtime import InvalidConfig, Runtime, mine_entity
from mokg.pair.store import SourceRef

pytestmark = pytest.mark.integration


class DownLLM:
    def chat_many(self, requests: object, progress: object = None) -> list[object]:
        raise LLMError("HTTP 400: refused (test)")


@pytest.fixture(scope="module")
def graph(graph_server: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    from mokg.stack.services import scratch_database

    settings = scratch_database(graph_server, "runstate")
    with Graph(settings) as g:
        apply_schema(g)
        ingest(
            g, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path_factory.mktemp("rs") / "r.jsonl"
        )
        yield g


@pytest.fixture(scope="module")
def runtime(graph: Graph) -> Runtime:
    return Runtime(graph.settings, graph=graph, llm=DownLLM(), embed=word_embed)  # type: ignore[arg-type]


def state(graph: Graph, ref: SourceRef) -> dict[str, object]:
    rows = graph.run_text(
        "MATCH (s:Store {name: $id}) RETURN properties(s) AS p", {"id": ref.id}, read_only=True
    )
    props: dict[str, object] = rows[0]["p"]
    return props


def a_store(graph: Graph, n: int) -> SourceRef:
    """The n-th store by name: each test a source of its own."""
    rows = graph.run_text(
        "MATCH (s:Store) RETURN s.name AS id ORDER BY id SKIP $n LIMIT 1", {"n": n}, read_only=True
    )
    return SourceRef("Store", str(rows[0]["id"]))


def picked(graph: Graph) -> set[str]:
    return {r.id for r, _ in store.select_sources(graph, ["Store"], 10_000)}


def test_a_permanently_failing_source_is_given_up_after_three_failed_runs(
    graph: Graph, runtime: Runtime
) -> None:
    ref = SourceRef("Store", "Starbucks")
    config = MiningConfig(max_relations=1, use_scorer=False)
    assert ref.id in picked(graph)
    picks, states = [], []
    for _ in range(3):
        plan = plan_run(graph, config, keys=[ref])  # marks it pending: a new run
        with pytest.raises(LLMError):
            mine_entity(graph, runtime.miner(config), ref, plan.run_id)
        picks.append(ref.id in picked(graph))
        s = state(graph, ref)
        states.append((s["pair_status"], s.get("pair_failures"), s["pair_attempts"]))
    assert picks == [True, True, False]  # re-picked while fewer than 3 runs failed it
    assert states == [("failed", run, 1) for run in (1, 2, 3)]
    # a finished source starts afresh
    plan = plan_run(graph, config, keys=[ref])
    source = store.fetch_source(graph, ref)
    assert source is not None and store.claim(graph, source, plan.run_id) is store.Claim.CLAIMED
    store.mark_done(graph, source, plan.run_id, {})
    assert state(graph, ref)["pair_failures"] == 0


def test_the_tries_of_one_run_count_as_one_failed_run(graph: Graph, runtime: Runtime) -> None:
    ref = a_store(graph, 1)
    config = MiningConfig(max_relations=1, use_scorer=False)
    plan = plan_run(graph, config, keys=[ref])
    for _ in range(5):  # the task's own retries: each a delivery that fails
        with pytest.raises(LLMError):
            mine_entity(graph, runtime.miner(config), ref, plan.run_id)
    assert ref.id in picked(graph)  # a later run tries it again
    s = state(graph, ref)
    assert (s["pair_status"], s["pair_failures"], s["pair_attempts"]) == ("failed", 1, 5)


def test_a_message_delivered_too_often_is_given_up_and_recorded(graph: Graph) -> None:
    ref = a_store(graph, 2)
    plan = plan_run(graph, MiningConfig(), keys=[ref])
    source = store.fetch_source(graph, ref)
    assert source is not None
    for _ in range(3):  # each delivery lost its worker mid-task: claimed, never finished
        assert store.claim(graph, source, plan.run_id, max_deliveries=3) is store.Claim.CLAIMED

    assert store.claim(graph, source, plan.run_id, max_deliveries=3) is store.Claim.GAVE_UP

    def never() -> Miner:
        raise AssertionError("mined after giving up")

    for _ in range(2):  # the next delivery gives up, and so does any duplicate after it
        outcome = mine_entity(graph, never, ref, plan.run_id, max_deliveries=3)
        assert outcome.status == "gave_up"
    s = state(graph, ref)
    assert (s["pair_status"], s["pair_attempts"], s["pair_failures"]) == ("failed", 3, 1)
    assert s["pair_error"] == "gave up after 3 deliveries (each lost its worker or failed)"
    assert {(f.id, f.error, f.failures) for f in store.status(graph).failures} >= {
        (ref.id, s["pair_error"], 1)
    }
    # a new run starts counting its deliveries afresh
    again = plan_run(graph, MiningConfig(), keys=[ref])
    assert store.claim(graph, source, again.run_id, max_deliveries=3) is store.Claim.CLAIMED


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            {"n_samples": 1, "bogus": 2},
            "InvalidConfig: invalid mining configuration: unknown mining settings",
        ),
        ({"use_scorer": True, "scorer_version": "no-such-scorer"}, ""),
    ],
)
def test_a_task_that_cannot_build_its_miner_fails_its_source(
    graph: Graph, runtime: Runtime, tmp_path: Path, config: dict[str, object], error: str
) -> None:
    ref = a_store(graph, 3 + bool(error))
    plan = plan_run(graph, MiningConfig(), keys=[ref])
    with pytest.raises(Exception) as info:
        runtime.mine(ref, plan.run_id, config)
    if error:
        assert isinstance(info.value, InvalidConfig)
    s = state(graph, ref)
    assert s["pair_status"] == "failed" and s["pair_failures"] == 1
    assert str(s["pair_error"]).startswith(error or type(info.value).__name__)
