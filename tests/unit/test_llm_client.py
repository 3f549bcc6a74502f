"""LLM access layer: request bodies, reply parsing, cache semantics, retries (against a scripted local HTTP
server) and the offline text embedder; plus an integration test against the real llama.cpp server."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mokg.config import Settings
from mokg.llm.cache import CachedReply, LLMCache, request_hash
from mokg.llm.client import (
    ChatRequest,
    LLMClient,
    LLMError,
    build_request_body,
    parse_json_reply,
    sample_groups,
)
from mokg.llm.embeddings import TextEmbedder, resolve_model, with_instruction

MESSAGES = [{"role": "user", "content": "Describe Ann, aged 31, as JSON."}]
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


# -- request bodies ------------------------------------------------------------------------------------


def test_llamacpp_body_uses_json_object_response_format() -> None:
    body = build_request_body("llamacpp", "m", ChatRequest(MESSAGES, PERSON_SCHEMA, 0.2, 64, seed=5))
    assert body["response_format"] == {"type": "json_object", "schema": PERSON_SCHEMA}
    assert "structured_outputs" not in body
    assert (body["model"], body["messages"], body["temperature"], body["max_tokens"]) == (
        "m",
        MESSAGES,
        0.2,
        64,
    )
    assert body["seed"] == 5


def test_vllm_body_uses_structured_outputs() -> None:
    body = build_request_body("vllm", "m", ChatRequest(MESSAGES, PERSON_SCHEMA))
    assert body["structured_outputs"] == {"json": PERSON_SCHEMA}
    assert "response_format" not in body
    assert not any(key.startswith("guided_") for key in body)


def test_body_without_schema_or_seed_has_neither() -> None:
    body = build_request_body("llamacpp", "m", ChatRequest(MESSAGES))
    assert not {"response_format", "structured_outputs", "seed"} & body.keys()


def test_seed_is_offset_by_sample_index() -> None:
    seeds = [
        build_request_body("vllm", "m", ChatRequest(MESSAGES, seed=10, sample_index=i))["seed"]
        for i in range(3)
    ]
    assert seeds == [10, 11, 12]


def test_llamacpp_requests_name_their_adapter_or_none_explicitly() -> None:
    # a base request lists adapter 0 at scale 0: without a list this llama-server keeps the slot's KV cache
    # that an adapter request computed (see build_request_body)
    assert build_request_body("llamacpp", "m", ChatRequest(MESSAGES))["lora"] == [{"id": 0, "scale": 0.0}]
    assert build_request_body("llamacpp", "m", ChatRequest(MESSAGES), 2)["lora"] == [{"id": 2, "scale": 1.0}]
    assert "lora" not in build_request_body("vllm", "lightpair", ChatRequest(MESSAGES))


def test_unknown_backend_is_an_error() -> None:
    with pytest.raises(LLMError, match="ollama"):
        build_request_body("ollama", "m", ChatRequest(MESSAGES, PERSON_SCHEMA))


# -- JSON replies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"name": "Ann", "age": 31}', {"name": "Ann", "age": 31}),
        ('```json\n{"name": "Ann", "age": 31}\n```', {"name": "Ann", "age": 31}),
        ('Sure! Here it is: {"a": [1, 2]} Hope this helps.', {"a": [1, 2]}),
        ("[1, 2, 3]", [1, 2, 3]),
        ('note {broken} then {"ok": true}', {"ok": True}),
        ('{"name": "Ann", "age": ', None),
        ("no json at all", None),
        ("", None),
    ],
)
def test_parse_json_reply(text: str, expected: Any) -> None:
    assert parse_json_reply(text) == expected


# -- cache ---------------------------------------------------------------------------------------------


def _hash(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "json_schema": None,
        "temperature": 0.0,
        "max_tokens": 64,
        "seed": None,
        "sample_index": 0,
    } | overrides
    return request_hash(MESSAGES, **args)


def test_request_hash_covers_every_generation_parameter() -> None:
    variants = [
        _hash(),
        _hash(json_schema=PERSON_SCHEMA),
        _hash(temperature=0.8),
        _hash(max_tokens=65),
        _hash(seed=1),
        _hash(sample_index=1),
        request_hash(
            [{"role": "user", "content": "other"}],
            json_schema=None,
            temperature=0.0,
            max_tokens=64,
            seed=None,
            sample_index=0,
        ),
    ]
    assert len(set(variants)) == len(variants)
    # Key order of the schema does not matter: the hash is over canonical JSON.
    reordered = {"required": ["name", "age"], "properties": PERSON_SCHEMA["properties"], "type": "object"}
    assert _hash(json_schema=PERSON_SCHEMA) == _hash(json_schema=reordered)


def test_cache_hit_miss_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "llm.sqlite"
    cache = LLMCache(path)
    assert cache.get("m", "k") is None
    cache.put("m", "k", CachedReply("hello", 3, 1))
    assert cache.get("m", "k") == CachedReply("hello", 3, 1)
    assert cache.get("other-model", "k") is None
    cache.put("m", "k", CachedReply("second writer loses", 0, 0))
    reopened = LLMCache(path)
    assert reopened.get("m", "k") == CachedReply("hello", 3, 1)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cache_concurrent_writers(tmp_path: Path) -> None:
    cache = LLMCache(tmp_path / "llm.sqlite")

    def write(worker: int) -> None:
        for i in range(25):
            cache.put("m", f"{worker}-{i}", CachedReply(str(i), i, i))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 100
    assert cache.get("m", "3-24") == CachedReply("24", 24, 24)


def test_cache_lives_under_home(tmp_path: Path) -> None:
    assert LLMCache.for_settings(Settings().with_(home=tmp_path)).path == tmp_path / "cache" / "llm.sqlite"


# -- client against a scripted HTTP server -------------------------------------------------------------


@dataclass
class FakeEndpoint:
    """Answers POST /v1/chat/completions from ``script`` (status, content) in turn, then with ``default``."""

    script: list[tuple[int, str]] = field(default_factory=list)
    default: tuple[int, str] = (200, "ok")
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    max_choices: int = 64  # fewer choices than asked: a misbehaving server
    tokenizer: bool = True  # llama-server's POST /tokenize
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
        with self.lock:
            self.bodies.append(body)
            self.headers.append(headers)
            return self.script.pop(0) if self.script else self.default


def _handler(endpoint: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            payload: dict[str, Any]
            if self.path.endswith("/tokenize"):  # llama-server's tokenizer: a token per word here
                if endpoint.tokenizer:
                    self._send(200, {"tokens": [0] * len(body["content"].split())})
                else:
                    self._send(404, {"error": {"message": "File Not Found"}})
                return
            status, content = endpoint.next_reply(body, dict(self.headers))
            if status == 200:
                # Echo the seed and the choice so tests can tell samples apart.
                content = content.replace("{seed}", str(body.get("seed")))
                choices = [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": content.replace("{choice}", str(i))},
                    }
                    for i in range(min(int(body.get("n", 1)), endpoint.max_choices))
                ]
                payload = {"choices": choices, "usage": {"prompt_tokens": 11, "completion_tokens": 7}}
            else:
                payload = {"error": {"message": content}}
            self._send(status, payload)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def endpoint() -> Iterator[tuple[FakeEndpoint, str]]:
    fake = FakeEndpoint()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _client(base_url: str, home: Path, parallel: int = 2, **kwargs: Any) -> LLMClient:
    settings = Settings().with_(llm_base_url=base_url, home=home, llm_parallel=parallel, llm_timeout_s=5.0)
    return LLMClient(settings, backoff_s=0.01, **kwargs)


def test_second_identical_call_is_served_from_cache(
    endpoint: tuple[FakeEndpoint, str], tmp_path: Path
) -> None:
    fake, url = endpoint
    fake.default = (200, '{"name": "Ann", "age": 31}')
    client = _client(url, tmp_path)
    first = client.chat(MESSAGES, json_schema=PERSON_SCHEMA, max_tokens=32)
    second = _client(url, tmp_path).chat(MESSAGES, json_schema=PERSON_SCHEMA, max_tokens=32)
    assert (first.cached, second.cached) == (False, True)
    assert first.parsed_json == second.parsed_json == {"name": "Ann", "age": 31}
    assert (second.prompt_tokens, second.completion_tokens, second.model) == (11, 7, "SmolLM2-135M-Instruct")
    assert len(fake.bodies) == 1
    assert fake.bodies[0]["response_format"]["schema"] == PERSON_SCHEMA
    assert fake.headers[0]["Authorization"] == "Bearer none"
    # A different max_tokens is a different request.
    assert client.chat(MESSAGES, json_schema=PERSON_SCHEMA, max_tokens=33).cached is False


def test_samples_of_one_prompt_go_as_one_request_and_are_cached_apart(
    endpoint: tuple[FakeEndpoint, str], tmp_path: Path
) -> None:
    fake, url = endpoint
    fake.default = (200, "sample {choice} of seed {seed} and more words")
    client = _client(url, tmp_path, parallel=4)
    samples = client.samples(MESSAGES, 3, temperature=0.8, seed=7)
    assert [s.text for s in samples] == [f"sample {i} of seed 7 and more words" for i in range(3)]
    assert len(fake.bodies) == 1 and fake.bodies[0]["n"] == 3 and fake.bodies[0]["seed"] == 7
    # the prompt counted once; the first choice's completion from usage, the others by the tokenizer
    assert [(s.prompt_tokens, s.completion_tokens) for s in samples] == [(11, 7), (0, 8), (0, 8)]
    again = client.samples(MESSAGES, 3, temperature=0.8, seed=7)
    assert [s.text for s in again] == [s.text for s in samples]
    assert all(s.cached for s in again)
    assert len(fake.bodies) == 1
    assert client.cache is not None and len(client.cache) == 3
    # a sample asked on its own is a different request (seed shifted by its index), cached apart
    alone = client.chat(MESSAGES, temperature=0.8, seed=7, sample_index=1)
    assert alone.cached is False and fake.bodies[-1]["n"] == 1 and fake.bodies[-1]["seed"] == 8


def test_without_a_tokenizer_route_the_other_choices_are_estimated(
    endpoint: tuple[FakeEndpoint, str], tmp_path: Path
) -> None:
    fake, url = endpoint
    fake.tokenizer = False
    fake.default = (200, "{choice}" * 10)
    samples = _client(url, tmp_path).samples(MESSAGES, 2, temperature=0.8, seed=1)
    # usage says 7 tokens for the first choice's 10 characters; the second has 10 too
    assert [(s.text, s.completion_tokens) for s in samples] == [("0" * 10, 7), ("1" * 10, 7)]


def test_fewer_choices_than_asked_is_an_error(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    fake.max_choices = 1
    with pytest.raises(LLMError, match="sent 1 choices, 2 asked"):
        _client(url, tmp_path).samples(MESSAGES, 2, temperature=0.8, seed=1)


def test_sample_groups_join_consecutive_samples_of_one_prompt_only() -> None:
    a = [ChatRequest(MESSAGES, None, 0.8, 32, 1, i) for i in range(3)]
    b = [ChatRequest([{"role": "user", "content": "other"}], None, 0.8, 32, 1, i) for i in range(2)]
    assert sample_groups([*a, *b], 8) == [[0, 1, 2], [3, 4]]
    assert sample_groups([a[0], b[0], a[1]], 8) == [[0], [1], [2]]  # interleaved: not joined
    assert sample_groups([a[1], a[2]], 8) == [[0], [1]]  # a group starts at sample 0
    assert sample_groups([a[0], a[0]], 8) == [[0], [1]]  # the same sample twice is not two samples
    other_max = ChatRequest(MESSAGES, None, 0.8, 16, 1, 1)
    assert sample_groups([a[0], other_max], 8) == [[0], [1]]
    assert sample_groups([], 8) == []
    # no more choices per request than the server has slots
    assert sample_groups([*a, *b], 2) == [[0, 1], [2], [3, 4]]
    assert sample_groups(a, 1) == [[0], [1], [2]]


def test_samples_past_the_slots_are_split_and_each_piece_is_sampled_apart(
    endpoint: tuple[FakeEndpoint, str], tmp_path: Path
) -> None:
    fake, url = endpoint
    fake.default = (200, "choice {choice} seed {seed}")
    client = _client(url, tmp_path)  # llm_parallel=2
    texts = [s.text for s in client.samples(MESSAGES, 3, temperature=0.8, seed=7)]
    assert texts == ["choice 0 seed 7", "choice 1 seed 7", "choice 0 seed 9"]
    assert sorted((b["n"], b["seed"]) for b in fake.bodies) == [(1, 9), (2, 7)]
    assert client.cache is not None and len(client.cache) == 3


def test_invalid_json_reply_keeps_raw_text(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    fake.default = (200, '{"name": "Ann", "age"')
    result = _client(url, tmp_path).chat(MESSAGES, json_schema=PERSON_SCHEMA)
    assert result.parsed_json is None
    assert result.text == '{"name": "Ann", "age"'


def test_retries_5xx_then_succeeds(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    fake.script = [(503, "loading model"), (500, "oops")]
    result = _client(url, tmp_path).chat(MESSAGES)
    assert result.text == "ok"
    assert len(fake.bodies) == 3


def test_5xx_until_attempts_run_out(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    fake.default = (502, "bad gateway")
    with pytest.raises(LLMError, match=r"after 3 attempt\(s\): HTTP 502"):
        _client(url, tmp_path, max_attempts=3).chat(MESSAGES)
    assert len(fake.bodies) == 3


def test_4xx_fails_at_once_naming_endpoint(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    fake.default = (400, "Requested tokens exceed context window")
    with pytest.raises(LLMError) as info:
        _client(url, tmp_path).chat(MESSAGES)
    assert f"{url}/chat/completions" in str(info.value)
    assert "HTTP 400" in str(info.value) and "exceed context window" in str(info.value)
    assert len(fake.bodies) == 1


def test_unreachable_endpoint_is_an_llm_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(LLMError, match=rf"127\.0\.0\.1:{port}.*after 2 attempt\(s\): ConnectionError"):
        _client(url, tmp_path, max_attempts=2).chat(MESSAGES)


def test_chat_many_keeps_order_and_reports_progress(
    endpoint: tuple[FakeEndpoint, str], tmp_path: Path
) -> None:
    fake, url = endpoint
    fake.default = (200, "seed {seed}")
    client = _client(url, tmp_path)
    requests = [ChatRequest(MESSAGES, seed=100 * i) for i in range(6)]
    calls: list[tuple[int, int]] = []
    results = client.chat_many(requests, progress=lambda done, total: calls.append((done, total)))
    assert [r.text for r in results] == [f"seed {100 * i}" for i in range(6)]
    assert sorted(calls) == [(i, 6) for i in range(1, 7)]


def test_chat_many_raises_first_failure(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    fake.default = (404, "no such route")
    with pytest.raises(LLMError, match="HTTP 404"):
        _client(url, tmp_path).chat_many([ChatRequest(MESSAGES, seed=i) for i in range(4)])


def test_without_cache_every_call_hits_the_server(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    client = _client(url, tmp_path, use_cache=False)
    assert not client.chat(MESSAGES).cached and not client.chat(MESSAGES).cached
    assert len(fake.bodies) == 2
    assert not (tmp_path / "cache").exists()


# -- embeddings ----------------------------------------------------------------------------------------


def test_instruction_prefix() -> None:
    assert with_instruction(["a b", "c"], "Represent the profile: ") == [
        "Represent the profile: a b",
        "Represent the profile: c",
    ]
    assert with_instruction(["a"], "") == ["a"]


def test_default_model_resolves_to_bundled_directory() -> None:
    path, offline = resolve_model("all-MiniLM-L6-v2")
    assert offline and (Path(path) / "model.safetensors").is_file()
    assert resolve_model("/some/other/model") == ("/some/other/model", False)


def test_text_embedder_offline_normalised() -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    embedder = TextEmbedder.from_settings(
        Settings().with_(embed_model="all-MiniLM-L6-v2", embed_instruction="")
    )
    vectors = embedder.encode(["a gift card for coffee", "a coffee gift card", "shampoo for dry hair"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384) == (3, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]
    assert embedder.encode([]).shape == (0, 384)
    # One model instance per process.
    assert TextEmbedder().model is embedder.model


# -- integration: the real llama.cpp server ------------------------------------------------------------


@pytest.mark.llm
@pytest.mark.integration
def test_real_server_schema_cache_and_samples(llm_settings: Settings, tmp_path: Path) -> None:
    client = LLMClient(llm_settings.with_(home=tmp_path))
    first = client.chat(MESSAGES, json_schema=PERSON_SCHEMA, max_tokens=64)
    assert not first.cached
    assert isinstance(first.parsed_json, dict), first.text
    assert isinstance(first.parsed_json["name"], str) and isinstance(first.parsed_json["age"], int)
    assert first.prompt_tokens > 0 and first.completion_tokens > 0

    second = client.chat(MESSAGES, json_schema=PERSON_SCHEMA, max_tokens=64)
    assert second.cached and second.text == first.text

    story = [{"role": "user", "content": "Write one sentence about a cat."}]
    samples = client.samples(story, 3, temperature=0.8, seed=3, max_tokens=24)
    assert not any(s.cached for s in samples)
    assert client.cache is not None and len(client.cache) == 1 + 3
    assert len({s.text for s in samples}) > 1, [s.text for s in samples]
    assert all(s.cached for s in client.samples(story, 3, temperature=0.8, seed=3, max_tokens=24))
