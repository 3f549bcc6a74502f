"""Fault injection against real servers, each killed with SIGKILL: the graph server mid-ingest and
mid-request, the broker while a worker mines, the LLM server mid-profile stage.

Each test starts the server it kills (its own MOKG_HOME and ports), so killing it touches no other test.
Ingestion must give exact counts once re-run; the web service must answer 503 with Retry-After while the graph
is down and recover by itself, without a restart, once it is back. A worker must reconnect to a restarted
broker by itself and every source of the run be mined exactly once (the broker's append-only file keeps the
queued and unacknowledged messages). A profile stage that lost its LLM server must end in one line, and its
re-run must resume from the LLM cache: the restarted server is asked only what was not answered before.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import GIFT_META, GIFT_REVIEWS, MOKG_CLI, counts
from test_ingest import expected_counts
from test_pair_workers import mined_triples, source_state, start_worker

from mokg.apikeys import create_key
from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.llm import LLMCache
from mokg.pair import store
from mokg.pair.store import SourceRef
from mokg.stack import down, up
from mokg.stack.process import Service, our_pid
from mokg.stack.services import arcadedb_service, llama_service, valkey_service

pytestmark = pytest.mark.integration


def _free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_graph(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    mine = settings.with_(
        home=tmp_path / "home",
        bolt_port=_free(),
        arcadedb_http_port=_free(),
        graph_password="",
        graph_database="faults",
    )
    up(mine, ["graph"])
    yield mine
    down(mine, ["graph"])


def _kill(service: Service) -> None:
    pid = our_pid(service)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while our_pid(service) is not None and time.monotonic() < deadline:
        time.sleep(0.2)


def _kill_graph(settings: Settings) -> None:
    _kill(arcadedb_service(settings))


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "MOKG_HOME": str(settings.home),
        "MOKG_BOLT_PORT": str(settings.bolt_port),
        "MOKG_ARCADEDB_HTTP_PORT": str(settings.arcadedb_http_port),
        "MOKG_GRAPH_DATABASE": settings.graph_database,
    }


def _ingest(settings: Settings) -> subprocess.Popen[str]:
    cmd = [
        *MOKG_CLI,
        "ingest",
        "--reviews",
        str(GIFT_REVIEWS),
        "--meta",
        str(GIFT_META),
    ]
    return subprocess.Popen(
        cmd, env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_graph_killed_mid_ingest_then_rerun_gives_exact_counts(own_graph: Settings) -> None:
    with Graph(own_graph) as g:
        apply_schema(g)
    proc = _ingest(own_graph)
    # kill the server once the first items have landed, while the run is still writing
    deadline = time.monotonic() + 120
    landed = 0
    while landed == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.3)
        with Graph(own_graph, max_retry_s=0) as g:
            landed = g.run_text("MATCH (i:Item) RETURN count(i) AS n", {}, read_only=True)[0]["n"]
    assert proc.poll() is None, "the ingest ended before the server could be killed"
    _kill_graph(own_graph)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err
    assert "lost the graph server" in err and "re-run" in err and "Traceback" not in err, err

    up(own_graph, ["graph"])
    rerun = _ingest(own_graph)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    with Graph(own_graph) as g:
        got = counts(g)
    want = expected_counts(GIFT_REVIEWS, GIFT_META)
    assert {k: got.get(k, 0) for k in want} == want


def test_web_answers_503_while_the_graph_restarts_and_recovers_alone(own_graph: Settings) -> None:
    from mokg.apps.web.app import create_app

    with Graph(own_graph) as g:
        apply_schema(g)
        token = create_key(g, ["lookup"], name="faults").token
    client = create_app(own_graph, key_ttl_s=0).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/items/NO-SUCH", headers=headers).status_code == 404

    _kill_graph(own_graph)
    t0 = time.monotonic()
    r = client.get("/v1/items/NO-SUCH", headers=headers)
    assert r.status_code == 503 and r.headers["Retry-After"] and r.json["error"], r.json
    assert time.monotonic() - t0 < 15  # the web's retry budget is short: a client is told at once
    assert client.get("/healthz").json["graph"]["ok"] is False

    up(own_graph, ["graph"])
    deadline = time.monotonic() + 60
    status = 503
    while status == 503 and time.monotonic() < deadline:
        status = client.get("/v1/items/NO-SUCH", headers=headers).status_code
        time.sleep(0.5)
    assert status == 404  # the same app, never restarted, answers again
    assert client.get("/healthz").json["graph"]["ok"] is True


def _stop(proc: subprocess.Popen[str]) -> None:
    """End a command this test started, if it still runs."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


def _output(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=30)
    return f"{out[-2000:]}\n{err[-3000:]}"


def _tail(service: Service) -> str:
    return "\n".join(service.log_file.read_text(errors="replace").splitlines()[-20:])


def _item_slice(tmp_path: Path, items: int, reviewers: int) -> tuple[Path, list[str]]:
    """The first ``reviewers`` reviews (by reviewer id) of each of the ``items`` most reviewed Gift_Cards items:
    a real, small graph. Returns the reviews file and the items' asins."""
    with gzip.open(GIFT_REVIEWS, "rt") as f:
        rows = [json.loads(line) for line in f]
    per_item = Counter(r["asin"] for r in rows)
    asins = sorted(per_item, key=lambda a: (-per_item[a], a))[:items]
    kept = [
        r
        for asin in asins
        for r in sorted((r for r in rows if r["asin"] == asin), key=lambda r: r["reviewerID"])[:reviewers]
    ]
    path = tmp_path / "slice.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return path, asins


def _slice_graph(
    settings: Settings, tmp_path: Path, items: int, reviewers: int
) -> tuple[list[str], set[str]]:
    """A scratch database with the slice ingested; the slice's items and users."""
    reviews, asins = _item_slice(tmp_path, items, reviewers)
    with Graph(settings) as g:
        apply_schema(g)
        ingest(g, reviews=reviews, meta=GIFT_META, rejects_path=tmp_path / "rejects.jsonl")
    users = {json.loads(line)["reviewerID"] for line in reviews.read_text().splitlines()}
    return asins, users


# -- the broker killed while a worker mines ---------------------------------------------------------------
# One relation, one sample per step and short answers: three short LLM calls per item.
PAIR_MINING = ("--relation", "COMPLEMENTARY_PRODUCT", "--n-samples", "1", "--max-tokens", "32", "--threshold", "0.3", "--no-scorer")  # fmt: skip


@pytest.fixture
def own_broker(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    mine = settings.with_(home=tmp_path / "broker", valkey_port=_free())
    up(mine, ["broker"])
    yield mine
    down(mine, ["broker"])


def _broker_backlog(broker: Settings) -> tuple[int, int]:
    """(messages queued, messages delivered and not yet acknowledged): kombu's lists and ``unacked`` hash."""
    client = redis.Redis.from_url(broker.broker(), socket_timeout=5)
    try:
        queued = sum(int(client.llen(k)) for k in client.scan_iter(match="pair*", _type="LIST"))
        return queued, int(client.hlen("unacked"))
    finally:
        client.close()


@pytest.mark.llm
def test_broker_killed_while_a_worker_mines_then_every_source_is_mined_once(
    fresh_settings: Settings, own_broker: Settings, llm_settings: Settings, tmp_path: Path
) -> None:
    asins, _ = _slice_graph(fresh_settings, tmp_path, items=3, reviewers=3)
    keys = [f"Item:{a}" for a in asins]
    env = {
        **os.environ,
        "MOKG_GRAPH_DATABASE": fresh_settings.graph_database,
        "MOKG_BROKER_URL": own_broker.broker(),
    }
    worker = start_worker(fresh_settings, tmp_path / "worker.log", env=env)
    cmd = [*MOKG_CLI, "pair", "run", *[a for k in keys for a in ("--key", k)]]
    run = subprocess.Popen(
        # --wait is a ceiling, not the expected time: 300 s ran out on busy cores
        [*cmd, *PAIR_MINING, "--wait", "900"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Graph(fresh_settings) as g:
            # kill the broker while one source is mined, some are done and some still queued
            deadline = time.monotonic() + 600
            state: dict[str, int] = {}
            while not (
                state.get("done", 0) >= 1 and state.get("running") == 1 and state.get("pending", 0) >= 1
            ):
                assert run.poll() is None and time.monotonic() < deadline, (
                    state,
                    worker.log.read_text()[-3000:],
                )
                time.sleep(0.3)
                runs = store.status(g, runs=1).runs
                state = store.run_counts(g, runs[0].run) if runs else {}
            run_id = store.status(g, runs=1).runs[0].run
            (in_flight,) = [k for k in keys if source_state(g, k).get("pair_status") == "running"]
            queued, unacked = _broker_backlog(own_broker)
            _kill(valkey_service(own_broker))
            assert queued >= 1 and unacked == 1, (queued, unacked)  # the running source's message is unacked
            # the worker finishes that source while the broker is down: its acknowledgement cannot reach it
            while source_state(g, in_flight)["pair_status"] == "running":
                assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
                time.sleep(0.5)
            time.sleep(2)
            assert store.run_counts(g, run_id)["running"] == 0  # no message to take while the broker is down
            up(own_broker, ["broker"])  # the same port and data: the append-only file holds the messages

            out, err = run.communicate(timeout=960)
            assert run.returncode == 0, err[-3000:]
            assert "done 3, failed 0" in out, out
            # every message acknowledged at last: the one in flight at the kill is delivered again (restored
            # on reconnection, else after the visibility timeout) and skipped, being done in this run
            deadline = time.monotonic() + 120
            while (backlog := _broker_backlog(own_broker)) != (0, 0):
                assert time.monotonic() < deadline, (backlog, worker.log.read_text()[-3000:])
                time.sleep(1)
            log = worker.log.read_text()
            assert worker.proc.poll() is None  # the same worker, never restarted: it reconnected by itself
            assert "Connection to broker lost" in log, log[-3000:]
            assert log.count(f"{run_id} {in_flight}: skipped") == 1, log[-3000:]  # redelivered once, skipped

            assert store.run_counts(g, run_id) == {"pending": 0, "running": 0, "done": 3, "failed": 0}
            triples = mined_triples(g)
            for key in keys:
                s = source_state(g, key)
                assert (s["pair_status"], s["pair_run"]) == ("done", run_id), s
                assert (s["pair_attempts"], s["pair_completions"]) == (1, 1), s  # mined once, completed once
                assert s["pair_triples"] == sum(t["asin"] == SourceRef.parse(key).id for t in triples)
            edges = Counter((t["asin"], t["relation"], t["target"]) for t in triples)
            assert triples and set(edges.values()) == {1}, edges  # no triple written twice
            entities = Counter(r["key"] for r in g.run_text("MATCH (e:Entity) RETURN e.key AS key", {}))
            assert set(entities.values()) <= {1}, entities
    finally:
        _stop(run)
        worker.stop()


# -- the LLM server killed mid-profile stage --------------------------------------------------------------
# The GLoM stages that need no LLM are skipped or tiny: the profiles are what is under test.
TRAIN = (
    "train", "--no-polarity", "--no-similarity", "--skip", "polarity", "--skip", "similarity",
    "--skip", "text-embeddings", "--skip", "write-back", "--dim", "8", "--epochs", "1", "--pm-epochs", "1",
)  # fmt: skip


@pytest.fixture
def own_llm(fresh_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """An LLM server of its own (home, port, reply cache; two slots) beside a scratch database on the session's
    graph server, whose password the own home does not hold."""
    from mokg.stack.services import LLAMA_SERVER_INSTALL, llama_available

    if not llama_available():
        pytest.fail(f"llama-server is not installed: {LLAMA_SERVER_INSTALL}")
    mine = fresh_settings.with_(
        home=tmp_path / "llm", llm_port=_free(), llm_parallel=2, graph_password=fresh_settings.password()
    )
    up(mine, ["llm"])
    yield mine
    down(mine, ["llm"])


def _train(settings: Settings) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MOKG_HOME": str(settings.home),
        "MOKG_LLM_PORT": str(settings.llm_port),
        "MOKG_LLM_PARALLEL": str(settings.llm_parallel),
        "MOKG_GRAPH_DATABASE": settings.graph_database,
        "MOKG_GRAPH_PASSWORD": settings.graph_password,
        "MOKG_PROFILE_LLM": "server",  # the server's failure is under test, not in-process generation
        # a shared, loaded CPU may take minutes for a profile: a request that timed out would be sent again
        "MOKG_LLM_TIMEOUT_S": "900",
    }
    return subprocess.Popen(
        [*MOKG_CLI, *TRAIN],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.llm
def test_llm_killed_mid_profile_stage_then_rerun_resumes_from_the_cache(
    own_llm: Settings, tmp_path: Path
) -> None:
    asins, users = _slice_graph(own_llm, tmp_path, items=1, reviewers=2)
    total = len(asins) + len(users)  # one profile each
    cache = LLMCache.for_settings(own_llm)  # the command's reply cache, in the own home
    server = llama_service(own_llm)

    first = _train(own_llm)
    try:
        deadline = time.monotonic() + 600
        while len(cache) == 0 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if first.poll() is None and not 0 < len(cache) < total:
            _stop(first)
        assert first.poll() is None, (
            f"no profile, or all, before the kill:\n{_output(first)}\n{_tail(server)}"
        )
        _kill(server)
        _, err = first.communicate(timeout=180)
    finally:
        _stop(first)
    lines = err.strip().splitlines()
    assert first.returncode == 1 and "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("error: ") and "LLM" in lines[0] and "re-run" in lines[0], err
    cached = len(cache)  # the replies that arrived before the server died
    assert 0 < cached < total

    start = server.log_file.stat().st_size
    up(own_llm, ["llm"])
    rerun = _train(own_llm)
    try:
        _, err = rerun.communicate(timeout=600)
    finally:
        _stop(rerun)
    assert rerun.returncode == 0, err[-3000:]
    # the restarted server was asked exactly the prompts the cache had no reply for
    asked = server.log_file.read_bytes()[start:].decode(errors="replace").count("processing task")
    assert asked == total - cached, (asked, total, cached)
    assert len(cache) == total
    with Graph(own_llm) as g:
        profiled = g.run_text(
            "MATCH (n) WHERE (n:Item OR n:User) AND n.profile IS NOT NULL "
            "RETURN coalesce(n.asin, n.user_id) AS id",
            {},
            read_only=True,
        )
    assert sorted(r["id"] for r in profiled) == sorted([*asins, *users])
