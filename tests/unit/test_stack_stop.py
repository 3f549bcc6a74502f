"""`mokg stack down` and `stack status` need only a server's name, pid file, owner tag and ports: a setting
that only a start reads (the model file, ...) cannot keep running servers from being stopped, and neither
writes secrets or configuration into the home."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mokg import stack
from mokg.config import Settings


def _broken(home: Path) -> Settings:
    return Settings(
        home=home, llm_model_path="/nonexistent.gguf", llm_base_url="", broker_url="", graph_uri=""
    )


@pytest.fixture
def llama_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # the llm service counts only where a llama-server is installed; pretend there is one
    monkeypatch.setattr(stack, "llama_available", lambda: True)


def test_status_and_down_with_a_bad_model_path_write_nothing(tmp_path: Path, llama_installed: None) -> None:
    home = tmp_path / "home"
    settings = _broken(home)
    statuses = stack.stack_status(settings)
    assert [(st.name, st.running) for st in statuses] == [
        ("arcadedb", False),
        ("valkey", False),
        ("llm", False),
    ]
    assert stack.down(settings) == ["llm: not running", "valkey: not running", "arcadedb: not running"]
    assert not home.exists()  # no secrets, server configuration or data folders


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A process that looks like the stack's Valkey to `stop`: its pid file, and its owner tag in its
    environment. Its own session, as `start` gives each server, so `stop` signals its group alone."""
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={**os.environ, "MOKG_STACK_OWNER": f"{home}/valkey"},
        start_new_session=True,
    )
    (home / "run" / "valkey.pid").write_text(str(proc.pid))
    yield home, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_down_stops_a_running_server_whatever_the_start_settings(
    fake_server: tuple[Path, subprocess.Popen[bytes]], llama_installed: None
) -> None:
    home, proc = fake_server
    settings = _broken(home)
    [valkey] = [st for st in stack.stack_status(settings) if st.name == "valkey"]
    assert valkey.running and valkey.pid == proc.pid and not valkey.healthy  # no secret: not a healthy Valkey
    lines = stack.down(settings)
    assert lines[0] == "llm: not running" and lines[1] == f"valkey: stopped (pid {proc.pid})"
    assert proc.wait(timeout=10) is not None
    assert not (home / "run" / "valkey.pid").exists()
    assert not (home / "secrets").exists()
