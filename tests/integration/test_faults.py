"""Fault injection against real servers: a graph server killed (SIGKILL) mid-ingest and mid-request.

Each test starts an ArcadeDB server of its own (its own MOKG_HOME and ports), so killing it touches no other
test. Ingestion must give exact counts once re-run; the web service must answer 503 with Retry-After while
the graph is down and recover by itself, without a restart, once it is back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GIFT_META, GIFT_REVIEWS, counts
from test_ingest import expected_counts

from mokg.apikeys import create_key
from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.stack import down, up
from mokg.stack.process import our_pid
from mokg.stack.services import arcadedb_service

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


def _kill_graph(settings: Settings) -> None:
    pid = our_pid(arcadedb_service(settings))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while our_pid(arcadedb_service(settings)) is not None and time.monotonic() < deadline:
        time.sleep(0.2)


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
        sys.executable,
        "-m",
        "mokg.apps.cli",
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
