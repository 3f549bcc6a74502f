"""The embedded LLM service: llama.cpp's native llama-server, its command line and the slot setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from mokg.config import Settings, SettingsError, usable_cores
from mokg.stack.services import LLM_CTX_PER_SLOT, llama_server_binary, llama_service


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_llama_server_is_installed_in_this_environment() -> None:
    binary = llama_server_binary()
    assert binary is not None, "llama-server is missing: bash scripts/build-llama-server.sh"


def test_argv_uses_the_slot_setting(tmp_path: Path) -> None:
    settings = Settings().with_(home=tmp_path, llm_port=18999, llm_parallel=3, llm_model="m-alias")
    argv = list(llama_service(settings).argv)
    assert Path(argv[0]).name == "llama-server"
    assert _flag(argv, "--host") == "127.0.0.1"
    assert _flag(argv, "--port") == "18999"
    assert _flag(argv, "--alias") == "m-alias"
    assert _flag(argv, "--parallel") == "3"
    # the context is split between the slots: each keeps LLM_CTX_PER_SLOT
    assert int(_flag(argv, "--ctx-size")) == 3 * LLM_CTX_PER_SLOT
    assert int(_flag(argv, "--threads")) >= 1


def test_threads_default_to_every_core_and_can_be_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MOKG_LLM_THREADS", raising=False)
    settings = Settings().with_(home=tmp_path)
    assert _flag(list(llama_service(settings).argv), "--threads") == str(usable_cores())
    assert _flag(list(llama_service(settings.with_(llm_threads=1)).argv), "--threads") == "1"
    monkeypatch.setenv("MOKG_LLM_THREADS", "-1")
    with pytest.raises(SettingsError, match="MOKG_LLM_THREADS"):
        Settings()


def test_parallel_defaults_to_eight_and_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOKG_LLM_PARALLEL", raising=False)
    assert Settings().llm_parallel == 8
    monkeypatch.setenv("MOKG_LLM_PARALLEL", "0")
    with pytest.raises(SettingsError, match="MOKG_LLM_PARALLEL"):
        Settings()
