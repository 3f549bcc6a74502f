"""Everywhere a user can go wrong, the real `mokg` command line ends in one line that says what to do.

Each case runs `mokg` in a subprocess with the session's environment plus the variables or arguments that
make it go wrong, against the session's ArcadeDB server: a server that is down, a wrong password, a database
that does not exist (created by `mokg schema apply` and `mokg stack up`, refused by the other commands), a
missing file, an unknown model, dataset or query name, a port in use, a setting that is not a number. Each
asserts a non-zero exit, no traceback and one non-empty line on stderr. A last test checks that libraries'
INFO logs (PyKEEN's) stay out of the output unless `-v` asks for them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, run_mokg

from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.arcadedb_http import ArcadeDBHttp
from mokg.ingest import ingest
from mokg.stack.services import drop_database

pytestmark = pytest.mark.integration

REVIEWS = FIXTURES / "amazon2023_reviews.jsonl"
META = FIXTURES / "amazon2023_meta.jsonl"


def mokg(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command line, with the session's environment and ``env`` on top."""
    return run_mokg(*args, env={**os.environ, **env}, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[str], *hints: str) -> str:
    """The fault's single stderr line, after checking the exit status, the absence of a traceback and
    that the line holds each hint (what to do)."""
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for hint in hints:
        assert hint in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bound_port() -> Iterator[int]:
    """A loopback port another process (this test) listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@pytest.fixture
def new_database(graph_server: Settings) -> Iterator[str]:
    """A database name the server does not have; dropped afterwards if a command created it."""
    name = f"doesnotexist_{uuid.uuid4().hex[:10]}"
    yield name
    if name in ArcadeDBHttp(graph_server).server_command("list databases")["result"]:
        drop_database(graph_server.with_(graph_database=name))


@pytest.fixture
def reviewed(fresh_graph: Graph, tmp_path: Path) -> Settings:
    """A database with the fixture reviews and metadata ingested: the stages that load models have work."""
    ingest(fresh_graph, reviews=REVIEWS, meta=META, rejects_path=tmp_path / "rejects.jsonl")
    return fresh_graph.settings


# -- the graph server ---------------------------------------------------------------------------------


def test_graph_server_down(graph_server: Settings) -> None:
    proc = mokg(
        "schema", "apply", MOKG_GRAPH_URI=f"bolt://127.0.0.1:{closed_port()}", MOKG_GRAPH_PASSWORD="x"
    )
    one_line_error(proc, "graph server", "mokg stack up", "MOKG_GRAPH_URI")


def test_wrong_password_over_bolt(graph_server: Settings) -> None:
    proc = mokg("schema", "apply", MOKG_GRAPH_PASSWORD="wrong")
    one_line_error(proc, "refused user 'root'", "MOKG_GRAPH_PASSWORD")


def test_wrong_password_over_http(graph_server: Settings, new_database: str) -> None:
    # `stack up` on a running server talks to its HTTP API (create the database, the analyst user)
    proc = mokg(
        "stack", "up", "--only", "graph", MOKG_GRAPH_PASSWORD="wrong", MOKG_GRAPH_DATABASE=new_database
    )
    one_line_error(proc, "refused user 'root'", "MOKG_GRAPH_PASSWORD")


# -- a database that does not exist ---------------------------------------------------------------------


def test_missing_database_is_created_by_schema_apply(graph_server: Settings, new_database: str) -> None:
    proc = mokg("schema", "apply", MOKG_GRAPH_DATABASE=new_database)
    assert proc.returncode == 0, proc.stderr
    assert f"created database {new_database!r}" in proc.stdout
    again = mokg("schema", "apply", MOKG_GRAPH_DATABASE=new_database)
    assert again.returncode == 0 and "created database" not in again.stdout, again.stderr
    assert mokg("summary", MOKG_GRAPH_DATABASE=new_database).returncode == 0


def test_missing_database_is_created_by_stack_up_on_a_running_server(
    graph_server: Settings, new_database: str
) -> None:
    proc = mokg("stack", "up", "--only", "graph", MOKG_GRAPH_DATABASE=new_database)
    assert proc.returncode == 0, proc.stderr
    assert "already running" in proc.stdout
    assert new_database in ArcadeDBHttp(graph_server).server_command("list databases")["result"]


def test_missing_database_is_refused_by_other_commands(graph_server: Settings, new_database: str) -> None:
    for args in (("ingest", "--reviews", str(REVIEWS)), ("summary",), ("keys", "list")):
        proc = mokg(*args, MOKG_GRAPH_DATABASE=new_database)
        one_line_error(proc, f"{new_database!r} does not exist", "mokg schema apply")


def test_database_name_that_is_no_name(graph_server: Settings) -> None:
    proc = mokg("schema", "apply", MOKG_GRAPH_DATABASE="no such; db")
    one_line_error(proc, "MOKG_GRAPH_DATABASE", "letters, digits")


# -- files, names, settings ----------------------------------------------------------------------------


def test_missing_file(graph_server: Settings, tmp_path: Path) -> None:
    proc = mokg("ingest", "--reviews", str(tmp_path / "nosuch.jsonl.gz"))
    one_line_error(proc, "nosuch.jsonl.gz", "no such file")


def test_missing_file_in_a_checked_option(tmp_path: Path) -> None:
    # click checks --seeds itself: its usage message (usage, hint, error), exit status 2, no traceback
    proc = mokg("expand", "--seeds", str(tmp_path / "nosuch.txt"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "does not exist" in errors[0], proc.stderr


def test_unknown_seed_query(fresh_settings: Settings) -> None:
    proc = mokg("expand", "--query", "nosuch", MOKG_GRAPH_DATABASE=fresh_settings.graph_database)
    one_line_error(proc, "unknown seed query 'nosuch'", "known:")


def test_unknown_dataset() -> None:
    proc = mokg("data", "fetch", "nosuch_dataset")
    one_line_error(proc, "unknown dataset 'nosuch_dataset'", "mokg data list")


# offline: a name the hub does not have fails at once, as it does on a machine without network access
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_unknown_sentiment_model(reviewed: Settings) -> None:
    proc = mokg(
        "train",
        *("--skip", "similarity", "--skip", "profiles", "--skip", "text-embeddings"),
        *("--epochs", "1", "--pm-epochs", "1"),
        MOKG_GRAPH_DATABASE=reviewed.graph_database,
        MOKG_SENTIMENT_MODEL="nosuch-sentiment-model",
        **OFFLINE,
    )
    one_line_error(proc, "MOKG_SENTIMENT_MODEL='nosuch-sentiment-model'", "vader")


def test_unknown_embedding_model(reviewed: Settings) -> None:
    proc = mokg(
        "pair",
        "train-scorer",
        *("--max-triples", "4", "--epochs", "1"),
        MOKG_GRAPH_DATABASE=reviewed.graph_database,
        MOKG_EMBED_MODEL="nosuch-embedding-model",
        **OFFLINE,
    )
    one_line_error(proc, "MOKG_EMBED_MODEL='nosuch-embedding-model'", "local model folder")


def test_setting_that_is_not_a_number() -> None:
    proc = mokg("summary", MOKG_BOLT_PORT="seven")
    one_line_error(proc, "MOKG_BOLT_PORT='seven'", "whole number")


# -- ports ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dev", [False, True], ids=["gunicorn", "dev"])
def test_serve_on_a_port_in_use(bound_port: int, dev: bool) -> None:
    proc = mokg("serve", *(["--dev"] if dev else []), "--port", str(bound_port))
    one_line_error(proc, f"port {bound_port}", "in use", "--port")


def test_stack_up_on_a_port_in_use(graph_server: Settings, bound_port: int, tmp_path: Path) -> None:
    proc = mokg(
        "stack", "up", "--only", "graph", MOKG_HOME=str(tmp_path / "home"), MOKG_BOLT_PORT=str(bound_port)
    )
    one_line_error(proc, f"port {bound_port}", "taken by another process")


# -- library logs ----------------------------------------------------------------------------------------

# The root group with a command that logs as PyKEEN does inside `mokg eval`: pykeen sets its own logger to
# INFO when it is imported, which happens after the command line configured logging.
PROBE = """
import logging, sys
from mokg.apps.cli.main import main

@main.command("probe")
def probe() -> None:
    import pykeen
    log = logging.getLogger("pykeen.pipeline.api")
    log.info("pykeen chatter")
    log.warning("pykeen warning")
    logging.getLogger("neo4j.pool").warning("driver retry")

main(sys.argv[1:], prog_name="mokg")
"""


def test_library_info_logs_only_with_verbose() -> None:
    quiet = subprocess.run(
        [sys.executable, "-c", PROBE, "probe"], capture_output=True, text=True, timeout=300, check=True
    )
    assert "pykeen chatter" not in quiet.stderr and "driver retry" not in quiet.stderr, quiet.stderr
    assert "WARNING pykeen.pipeline.api: pykeen warning" in quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-c", PROBE, "-v", "probe"], capture_output=True, text=True, timeout=300, check=True
    )
    assert "INFO pykeen.pipeline.api: pykeen chatter" in loud.stderr, loud.stderr
