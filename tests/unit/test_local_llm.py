"""In-process profile generation (`mokg.llm.local`): which backend `mokg train` picks, what `LocalChat`
refuses, and that it answers from the reply cache without loading a model. Generation itself runs against
the real model in `tests/integration/test_glom_pipeline.py` (the "local" case)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
    # the server's replies are another model's: the same requests are not hits for the server's label
    assert LLMClient(settings).model != chat.model
    assert all(cache.get(LLMClient(settings).model, r.cache_key()) is None for r in requests)


def test_the_label_names_the_weights_file_not_the_endpoint_model(tmp_path: Path) -> None:
    gguf = tmp_path / "Other-1B.Q8_0.gguf"
    gguf.write_bytes(b"GGUF")  # never loaded: the label only reads the name
    settings = Settings(home=tmp_path, device="cpu", llm_model="Qwen-for-vLLM", llm_model_path=str(gguf))
    label = LocalChat(settings, use_cache=False).model
    assert label.startswith("Other-1B.Q8_0 (transformers, ") and "Qwen" not in label


class _Tokenizer:
    """Characters as token ids; 0 pads, 1 ends a reply."""

    pad_token_id = 0
    eos_token_id = 1

    def apply_chat_template(self, messages: list[dict[str, str]], **_: object) -> list[int]:
        return [ord(c) for c in messages[-1]["content"]]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids)


class _Model:
    """Answers each prompt with its own last three characters reversed, then the end token, and records the
    batches it was given."""

    def __init__(self) -> None:
        self.generation_config = type("Config", (), {"eos_token_id": 1})()
        self.batches: list[list[int]] = []

    def generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, **_: object
    ) -> torch.Tensor:
        rows = []
        self.batches.append([int(m.sum()) for m in attention_mask])
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
            prompt = [t for t, m in zip(ids, mask, strict=True) if m]
            answer = [*prompt[::-1][:3], 1][:max_new_tokens]
            rows.append(ids + answer + [0] * (max_new_tokens - len(answer)))
        return torch.tensor(rows)


def test_replies_reach_their_own_requests_across_sorted_batches(tmp_path: Path) -> None:
    """The pending requests are sorted by (max_tokens, length) and cut into batches: every reply must still
    land on the request it answers, in request order, and in the cache under that request's key."""
    cache = LLMCache(tmp_path / "llm.sqlite")
    chat = LocalChat(Settings(home=tmp_path, device="cpu", profile_llm_batch=3), cache=cache)
    model = _Model()
    chat._loaded = (model, _Tokenizer())
    texts = ["kiwi", "a much longer prompt xyz", "fig", "banana split", "plum", "mid-size abc", "lime"]
    requests = [
        ChatRequest([{"role": "user", "content": t}], max_tokens=8 if i % 3 else 2)
        for i, t in enumerate(texts)
    ]
    cache.put(chat.model, requests[4].cache_key(), CachedReply("from the cache", 4, 3))
    seen: list[int] = []
    results = chat.chat_many(requests, lambda done, total: seen.append(done))
    expected = [
        t[::-1][:3] if r.max_tokens == 8 else t[::-1][:2] for t, r in zip(texts, requests, strict=True)
    ]
    expected[4] = "from the cache"
    assert [r.text for r in results] == expected
    assert [r.cached for r in results] == [i == 4 for i in range(len(texts))]
    assert [r.prompt_tokens for i, r in enumerate(results) if i != 4] == [
        len(t) for i, t in enumerate(texts) if i != 4
    ]
    # one max_tokens per batch, at most 3 prompts, shortest first; the cached request is not generated
    assert model.batches == [[4, 4, 12], [3, 12, 24]]
    assert seen == [1, 4, 7]
    for t, r in zip(expected, requests, strict=True):
        hit = cache.get(chat.model, r.cache_key())
        assert hit is not None and hit.text == t
