"""The schema applies twice cleanly; the stack's up/down/status behave as documented."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_mokg

from mokg.config import Settings
from mokg.graph import Graph, cypher
from mokg.graph.schema import apply_schema
from mokg.stack import StackError, down, stack_status, up
from mokg.stack.process import our_pid
from mokg.stack.services import _ensure_database, arcadedb_service, valkey_service

pytestmark = pytest.mark.integration


def test_schema_applies_twice_and_enforces_keys(fresh_settings: Settings) -> None:
    with Graph(fresh_settings) as g:
        first = apply_schema(g)
        second = apply_schema(g)
        assert first == second == cypher.names("schema")
        indexes = g.run_text("SHOW INDEXES", {})
        keyed = {(r["labelsOrTypes"][0], r["properties"][0]) for r in indexes}
        for key in [
            ("Item", "asin"),
            ("User", "user_id"),
            ("Category", "path"),
            ("Store", "name"),
            ("Entity", "key"),
        ]:
            assert key in keyed
        # the PAIR run state (selection, status, wait_for_run) and the workers' pool top-ups are indexed
        pair_state = {
            (label.lower() + "_" + prop, label, prop)
            for label in ("Item", "Category", "Store")
            for prop in ("pair_status", "pair_run")
        }
        pair_state |= {("pairrun_id", "PairRun", "id"), ("entity_created_at", "Entity", "created_at")}
        named = {(r["name"], r["labelsOrTypes"][0], r["properties"][0]) for r in indexes}
        assert pair_state <= named, pair_state - named
        g.run_text("CREATE (:Item {asin: 'DUP1'})", {})
        with pytest.raises(Exception, match=r"(?i)constraint|duplicat|unique"):
            g.run_text("CREATE (:Item {asin: 'DUP1'})", {})


def test_the_stack_applies_the_schema_to_its_database(graph_server: Settings) -> None:
    # `mokg stack up`, then `mokg ingest`, must not MERGE into a database without its unique indexes (every
    # MERGE would scan its whole type): the stack applies the schema to MOKG_GRAPH_DATABASE when it starts
    with Graph(graph_server) as g:
        keyed = {(r["labelsOrTypes"][0], r["properties"][0]) for r in g.run_text("SHOW INDEXES", {})}
    assert {("Item", "asin"), ("User", "user_id"), ("Category", "path"), ("Store", "name")} <= keyed


def test_a_schema_the_data_breaks_stops_the_stack_with_one_line(fresh_settings: Settings) -> None:
    # a database written without the schema may hold duplicate keys: the unique index then cannot be built,
    # and `mokg stack up` says so (a StackError: one line, what to do), not with a driver traceback
    with Graph(fresh_settings) as g:
        g.run_text("CREATE (:Item {asin: 'DUP2'}), (:Item {asin: 'DUP2'})", {})
    with pytest.raises(StackError, match=r"schema could not be applied to database .*mokg stack up") as e:
        _ensure_database(fresh_settings)
    assert "\n" not in str(e.value) and "ConstraintValidationFailed" in str(e.value)


def test_list_parameters_reach_the_server_whole_and_the_driver_does_not_print_them(
    fresh_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # the driver formats each RUN's parameters for its debug line whatever the level (0.17 s for 3,000
    # vectors): Graph hands it lists that print as their length, and the server still gets every value
    vectors = [[k + j / 7 for j in range(16)] for k in range(50)]
    rows = [{"key": f"v{k}", "props": {"embedding": v}} for k, v in enumerate(vectors)]
    with Graph(fresh_settings) as g, caplog.at_level(logging.DEBUG, logger="neo4j"):
        g.run_text("UNWIND $ids AS id CREATE (:User {user_id: id})", {"ids": [r["key"] for r in rows]})
        g.write_batches("glom/set_user_properties", rows)
        got = g.run_text(
            "MATCH (u:User) WHERE u.user_id IN $ids RETURN u.user_id AS k, u.embedding AS e",
            {"ids": [r["key"] for r in rows]},
            read_only=True,
        )
    assert {r["k"]: r["e"] for r in got} == {r["key"]: r["props"]["embedding"] for r in rows}
    runs = [m for m in caplog.messages if "C: RUN" in m]
    assert any("<50 items>" in m for m in runs), runs[:3]
    assert not any(repr(vectors[1][1]) in m for m in caplog.messages)


def test_cli_schema_apply(fresh_settings: Settings) -> None:
    proc = run_mokg("schema", "apply", settings=fresh_settings)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(cypher.names('schema'))} statements applied" in proc.stdout


def test_up_is_idempotent_and_status_reports(graph_server: Settings, broker_server: Settings) -> None:
    lines = up(graph_server, ["graph", "broker"])
    assert lines == ["arcadedb: already running", "valkey: already running"]
    statuses = {s.name: s for s in stack_status(graph_server)}
    assert statuses["arcadedb"].healthy and statuses["valkey"].healthy
    proc = run_mokg("stack", "status")
    assert "arcadedb  healthy" in proc.stdout and "valkey    healthy" in proc.stdout


def test_port_taken_gives_clear_message(graph_server: Settings, tmp_path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        other = graph_server.with_(home=tmp_path / "other", valkey_port=port)
        with pytest.raises(StackError, match=f"port {port} on 127.0.0.1 is taken"):
            up(other, ["broker"])


def test_down_stops_only_what_up_started(graph_server: Settings, tmp_path) -> None:
    other = graph_server.with_(home=tmp_path / "home2", valkey_port=_free())
    up(other, ["broker"])
    # a stranger process whose pid is planted in the pid file must survive `down`
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        svc = valkey_service(other)
        real = our_pid(svc)
        assert real is not None
        down(other, ["broker"])
        assert our_pid(svc) is None
        svc.pid_file.write_text(str(stranger.pid))
        assert down(other, ["broker"]) == ["valkey: not running"]
        assert stranger.poll() is None  # still alive
    finally:
        stranger.kill()
        stranger.wait()
    # the session's own servers are untouched by another home's down
    assert {s.name: s.healthy for s in stack_status(graph_server)}["arcadedb"]


def _free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_password_file_is_private(graph_server: Settings) -> None:
    mode = graph_server.password_file.stat().st_mode & 0o777
    assert mode == 0o600
    assert (graph_server.secrets_dir.stat().st_mode & 0o777) == 0o700
    # the password never appears on a command line
    pid = our_pid(arcadedb_service(graph_server))
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    assert graph_server.password() not in cmdline


def test_external_components_are_checked_not_started(graph_server: Settings, tmp_path: Path) -> None:
    """Production: MOKG_GRAPH_URI / MOKG_LLM_BASE_URL point elsewhere; the stack owns nothing and checks health."""
    external = graph_server.with_(
        home=tmp_path / "prod",
        graph_uri=graph_server.bolt_uri,
        graph_password=graph_server.password(),
        llm_base_url="http://127.0.0.1:9/v1",
        broker_url="redis://127.0.0.1:9/0",
    )
    assert up(external) == []  # nothing embedded to start
    lines = {s.name: s for s in stack_status(external)}
    assert lines["graph"].healthy and lines["graph"].external == graph_server.bolt_uri
    assert not lines["llm"].healthy and not lines["broker"].healthy


def test_down_and_status_stop_and_report_whatever_the_llm_settings(
    graph_server: Settings, tmp_path: Path
) -> None:
    """A setting only a start reads (the model file) broke since `up`: `status` and `down` still work, and
    `down` stops the real server; neither writes secrets or configuration into an empty home."""
    other = graph_server.with_(home=tmp_path / "home3", valkey_port=_free())
    up(other, ["broker"])
    real = our_pid(valkey_service(other))
    assert real is not None
    env = {
        **os.environ,
        "MOKG_HOME": str(other.home),
        "MOKG_VALKEY_PORT": str(other.valkey_port),
        "MOKG_LLM_MODEL_PATH": "/nonexistent.gguf",
    }
    try:
        status = run_mokg("stack", "status", env=env)
        assert "Traceback" not in status.stderr and "valkey    healthy" in status.stdout, status.stderr
        proc = run_mokg("stack", "down", env=env)
        assert proc.returncode == 0, proc.stderr
        assert f"valkey: stopped (pid {real})" in proc.stdout
    finally:
        down(other, ["broker"])  # whatever failed above, leave no server behind
    assert our_pid(valkey_service(other)) is None
    # the session's own servers are untouched by another home's down
    assert {s.name: s.healthy for s in stack_status(graph_server)}["arcadedb"]
    empty = tmp_path / "empty"
    for command in ("status", "down"):
        run_mokg("stack", command, env={**env, "MOKG_HOME": str(empty)})
        assert not empty.exists()
