"""Test fixtures: real servers (ArcadeDB over Bolt, Valkey, llama.cpp) started once per session.

The session gets its own MOKG_HOME and free loopback ports, exported as MOKG_* variables before any
setting is read, so in-process code and `mokg` subprocesses see the same stack. Each test that needs a
clean graph gets a fresh ArcadeDB database on the shared server (cheap), not a new server.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _real_data() -> Path:
    """``../shared/data/amazon`` beside the clone, else what `mokg data fetch` cached in the user's MOKG_HOME."""
    shared = REPO.parent / "shared" / "data" / "amazon"
    if shared.is_dir():
        return shared
    from mokg.config import Settings
    from mokg.data import folder

    return folder("gift_cards", Settings()).parent  # read before the session's own MOKG_HOME is set


DATA = _real_data()
GIFT_REVIEWS = DATA / "Gift_Cards" / "Gift_Cards_5.json.gz"
GIFT_META = DATA / "Gift_Cards" / "meta_Gift_Cards.json.gz"
BEAUTY_REVIEWS = DATA / "All_Beauty" / "All_Beauty_5.json.gz"
FIXTURES = Path(__file__).parent / "fixtures"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SESSION_HOME = Path(tempfile.mkdtemp(prefix="mokg-test-"))
# Every named Cypher statement run, by this process or any it starts (tests/tracing: a sitecustomize on the
# subprocesses' PYTHONPATH wraps Graph's methods; the product has no hook), for tests/test_cypher_files.py.
CYPHER_TRACE = _SESSION_HOME / "cypher-trace.txt"
_TRACING = Path(__file__).parent / "tracing"
# Exported at import time, before anything calls get_settings(); subprocesses inherit them.
os.environ.update(
    {
        "MOKG_HOME": str(_SESSION_HOME),
        "MOKG_BOLT_PORT": str(_free_port()),
        "MOKG_ARCADEDB_HTTP_PORT": str(_free_port()),
        "MOKG_VALKEY_PORT": str(_free_port()),
        "MOKG_LLM_PORT": str(_free_port()),
        "MOKG_ARCADEDB_HEAP": "1g",
        "MOKG_TEST_CYPHER_TRACE": str(CYPHER_TRACE),
        "PYTHONPATH": os.pathsep.join(p for p in (str(_TRACING), os.environ.get("PYTHONPATH")) if p),
    }
)
sys.path.insert(0, str(_TRACING))
import cypher_trace  # noqa: E402  (tests/tracing)

cypher_trace.install(CYPHER_TRACE)
for _name in ("MOKG_GRAPH_URI", "MOKG_BROKER_URL", "MOKG_LLM_BASE_URL", "MOKG_GRAPH_PASSWORD"):
    os.environ.pop(_name, None)

from mokg.config import Settings, get_settings  # noqa: E402  (after the environment is set)
from mokg.graph import Graph  # noqa: E402
from mokg.stack import down, up  # noqa: E402
from mokg.stack.services import scratch_database  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def graph_server(settings: Settings) -> Iterator[Settings]:
    """A real ArcadeDB server with its Bolt listener, for the whole session."""
    up(settings, ["graph"])
    yield settings
    down(settings, ["graph"])


@pytest.fixture(scope="session")
def broker_server(settings: Settings) -> Iterator[Settings]:
    """A real Valkey server, for the whole session."""
    up(settings, ["broker"])
    yield settings
    down(settings, ["broker"])


@pytest.fixture(scope="session")
def served(graph_server: Settings, broker_server: Settings, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The serving tests' graph (tests/integration/served_graph.py), built once per session."""
    from served_graph import served_graph  # tests/integration is on sys.path once its tests are collected

    return served_graph(graph_server, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def llm_settings(settings: Settings) -> Iterator[Settings]:
    """A real llama.cpp llama-server with SmolLM2-135M-Instruct, for the whole session."""
    from mokg.stack.services import LLAMA_SERVER_INSTALL, llama_available

    if not llama_available():
        pytest.fail(f"llama-server is not installed: {LLAMA_SERVER_INSTALL}")
    up(settings, ["llm"])
    yield settings
    down(settings, ["llm"])


@pytest.fixture
def fresh_settings(graph_server: Settings) -> Settings:
    """Settings pointing at a new, empty database on the session's server."""
    return scratch_database(graph_server, "t")


@pytest.fixture
def fresh_graph(fresh_settings: Settings) -> Iterator[Graph]:
    from mokg.graph.schema import apply_schema

    with Graph(fresh_settings) as g:
        apply_schema(g)
        yield g


# the real command line as every test starts it: this interpreter, so the venv's package is the one tested
MOKG_CLI: tuple[str, ...] = (sys.executable, "-m", "mokg.apps.cli")


def run_mokg(
    *args: str,
    settings: Settings | None = None,
    check: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> subprocess.CompletedProcess[str]:
    """Run the real `mokg` command line in a subprocess with the session's environment (or ``env``)."""
    env = dict(env or os.environ)
    if settings is not None:
        env["MOKG_GRAPH_DATABASE"] = settings.graph_database
    return subprocess.run(
        [*MOKG_CLI, *args],
        capture_output=True,
        text=True,
        env=env,
        check=check,
        timeout=timeout,
    )


def run_bench(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<script>`` in a subprocess with the session's environment (or ``env``)."""
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True,
        text=True,
        env=dict(env or os.environ),
        timeout=timeout,
    )


def counts(graph: Graph) -> dict[str, int]:
    """Nodes per label and relationships per type, through the analyst statements."""
    result = {str(r["label"]): int(r["n"]) for r in graph.query("analyst/node_counts")}
    result.update({str(r["type"]): int(r["n"]) for r in graph.query("analyst/relationship_counts")})
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the Cypher coverage check must see every other test's statements, so it runs last
    last = [i for i in items if i.name == "test_every_cypher_file_runs"]
    items[:] = [i for i in items if i not in last] + last


def word_embed(texts: Sequence[str]) -> np.ndarray:
    """A toy text embedder for PAIR tests: hashed bag of lower-case words (stable across processes), unit
    rows."""
    out = np.zeros((len(texts), 256))
    for i, text in enumerate(texts):
        for word in text.lower().split():
            out[i, int(hashlib.sha1(word.encode()).hexdigest(), 16) % 256] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


# -- LightPAIR: a tiny distillation set that a few training steps fit (tests/unit/test_lightpair*.py, the serving
# test). The GGUF's one-time conversion for transformers is cached by its hash, shared by runs.
LIGHTPAIR_CACHE = Path(tempfile.gettempdir()) / "mokg-test-lightpair-base"
LIGHTPAIR_CARDS = [
    ("Starbucks Gift Card", "coffee lovers"),
    ("Amazon eGift Card", "online shoppers"),
    ("iTunes Gift Card", "music fans"),
    ("Visa Prepaid Card", "travelers"),
    ("Sephora Gift Card", "beauty fans"),
    ("Xbox Gift Card", "gamers"),
    ("Barnes & Noble Card", "readers"),
    ("Uber Gift Card", "commuters"),
]
# the relation the tiny set answers and the serving tests mine
LIGHTPAIR_RELATION = "TARGET_AUDIENCE"


def lightpair_record(name: str, audience: str, i: int, real_prompt: bool = False) -> dict[str, Any]:
    """A record in the distill format: a short question, so a few steps run in seconds, or (``real_prompt``)
    the source-pass prompt over R_s narrowed to LIGHTPAIR_RELATION, the prompt the serving tests mine with,
    so that the student answers there as it learned instead of copying the prompt's words."""
    from mokg.pair.prompts import SourceEntity, build_source_pass_prompt
    from mokg.pair.schema import RelationSchema

    if real_prompt:
        schema = RelationSchema.load().narrowed((LIGHTPAIR_RELATION,))
        facts = (f"Sold by: {name.split()[0]}", "Category: Gift Cards")
        messages = build_source_pass_prompt(SourceEntity(name, "Item"), schema, facts, max_targets=5).messages
    else:
        messages = [
            {"role": "system", "content": "Answer with JSON."},
            {"role": "user", "content": f"Who buys the {name}?"},
        ]
    answer = json.dumps({"relations": [{"relation": LIGHTPAIR_RELATION, "targets": [audience]}]})
    return {
        "messages": [*messages, {"role": "assistant", "content": answer}],
        "source": f"Item:B{i:09d}",
        "relations": [LIGHTPAIR_RELATION],
        "provenance": {"prompt_id": "p", "run_ids": ["r1"], "models": ["teacher"], "targets": []},
    }


# a done source the tiny set lists without kept triples: an evaluation must leave it out too
TINY_SOURCE_WITHOUT_TRIPLES = "Item:B0NOTKEPT0"


def write_tiny_distill(out: Path, real_prompt: bool = False) -> Path:
    """The cards as a `mokg pair distill` folder; validation = the training records (an overfit check)."""
    from mokg.pair.distill import Dataset, write_dataset

    records = [lightpair_record(n, a, i, real_prompt) for i, (n, a) in enumerate(LIGHTPAIR_CARDS)]
    data = Dataset(
        train=records,
        val=records,
        sources_done=len(records) + 1,
        without_triples=[TINY_SOURCE_WITHOUT_TRIPLES],
    )
    write_dataset(data, out, val_share=0.0)
    return out
