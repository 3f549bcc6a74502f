"""In-process profile generation (`mokg.llm.local`): which backend `mokg train` picks, what `LocalChat`
refuses, and that it answers from the reply cache without loading a model. Generation itself runs against
the real model in `tests/integration/test_glom_pipeline.py` (the "local" case)."""

from __future__ import annotations

from pathlib import Path

import pytest

import mokg.llm.local as local
from mokg.config import Settings, SettingsError
from mokg.llm.cache import CachedReply, LLMCache
from mokg.llm.client import ChatRequest, LLMClient, LLMError
from mokg.llm.local import LocalChat, profile_backend

MESSAGES = [{"role": "user", "content": "Item data\nTitle: A gift card"}]


@pytest.mark.parametrize(("env", "value"), [("MOKG_PROFILE_LLM", "gpu"), ("MOKG_PROFILE_LLM_BATCH", "0")])
def test_bad_profile_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError, match=env):
        Settings()


@pytest.mark.parametrize(
    ("choice", "base_url", "flags", "expected"),
    [
        ("server", "", {"amx_bf16"}, LLMClient),
        ("local", "http://vllm:8000/v1", set(), LocalChat),
        ("auto", "", {"avx512_bf16"}, LocalChat),
        ("auto", "", {"amx_bf16", "avx2"}, LocalChat),
        ("auto", "", {"avx2", "f16c"}, LLMClient),  # no bfloat16 instructions: the server is faster
        ("auto", "http://vllm:8000/v1", {"amx_bf16"}, LLMClient),  # an endpoint of its own: use it
    ],
)
def test_the_profile_backend_follows_the_setting_the_endpoint_and_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    choice: str,
    base_url: str,
    flags: set[str],
    expected: type,
) -> None:
    monkeypatch.setattr(local, "cpu_flags", lambda: frozenset(flags))
    settings = Settings(home=tmp_path, profile_llm=choice, llm_base_url=base_url)
    assert type(profile_backend(settings)) is expected


@pytest.mark.parametrize(
    "request_",
    [ChatRequest(MESSAGES, json_schema={"type": "object"}), ChatRequest(MESSAGES, temperature=0.7)],
)
def test_local_generation_refuses_what_only_the_server_does(tmp_path: Path, request_: ChatRequest) -> None:
    chat = LocalChat(Settings(home=tmp_path, device="cpu"), use_cache=False)
    with pytest.raises(LLMError, match=r"request 1: .*send it to the LLM server"):
        chat.chat_many([ChatRequest(MESSAGES), request_])
    assert chat._loaded is None  # refused before any model was loaded


def test_cached_replies_come_back_in_order_without_loading_the_model(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, device="cpu")
    cache = LLMCache(tmp_path / "llm.sqlite")
    chat = LocalChat(settings, cache=cache)
    requests = [ChatRequest([{"role": "user", "content": f"item {i}"}], max_tokens=16) for i in range(3)]
    for i, r in enumerate(requests):
        cache.put(chat.model, r.cache_key(), CachedReply(f"profile {i}", 10 + i, 5))
    seen: list[tuple[int, int]] = []
    results = chat.chat_many(requests, lambda done, total: seen.append((done, total)))
    assert [r.text for r in results] == ["profile 0", "profile 1", "profile 2"]
    assert all(r.cached and r.model == chat.model for r in results)
    assert [r.prompt_tokens for r in results] == [10, 11, 12]
    assert seen == [(3, 3)] and chat._loaded is None
    # the server's replies are another model's: the same requests are not hits for LocalChat's label
    other = LocalChat(settings.with_(llm_model="another"), cache=cache)
    assert all(cache.get(other.model, r.cache_key()) is None for r in requests)
