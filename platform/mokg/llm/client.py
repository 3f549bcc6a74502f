"""One client for OpenAI-compatible chat endpoints (embedded llama.cpp server, or vLLM).

Every reply goes through :class:`~mokg.llm.cache.LLMCache` first, so a re-run only pays for what is missing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from mokg.config import Settings
from mokg.llm.adapters import ServedAdapter
from mokg.llm.cache import CachedReply, LLMCache, request_hash

Message = dict[str, str]
Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each finished request."""


class LLMError(RuntimeError):
    """A chat request failed for good (after retries where retrying made sense)."""


@dataclass(frozen=True)
class ChatRequest:
    messages: list[Message]
    json_schema: dict[str, Any] | None = None
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = None
    # Which of n samples this is: part of the cache key, and shifts the seed sent to the server.
    sample_index: int = 0

    def cache_key(self) -> str:
        return request_hash(
            self.messages,
            json_schema=self.json_schema,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=self.seed,
            sample_index=self.sample_index,
        )


@dataclass(frozen=True)
class ChatResult:
    text: str
    parsed_json: Any | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    model: str


class ChatBackend(Protocol):
    """What batch generators need: :class:`LLMClient`, or a scripted stand-in in tests."""

    def chat_many(
        self, requests: Sequence[ChatRequest], progress: Progress | None = None
    ) -> list[ChatResult]: ...


def build_request_body(
    backend: str, model: str, request: ChatRequest, lora_id: int | None = None
) -> dict[str, Any]:
    """The JSON body of ``POST {base}/chat/completions`` for ``backend`` (``llamacpp`` or ``vllm``);
    ``lora_id`` applies that llama-server adapter to this request (vLLM picks an adapter by ``model``)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "n": 1,
        "stream": False,
    }
    if request.seed is not None:
        # Same seed for every sample would give n identical samples; offset it by the sample index.
        body["seed"] = request.seed + request.sample_index
    if request.json_schema is not None:
        if backend == "llamacpp":
            # llama-server turns {"type": "json_object", "schema": ...} into a grammar; it also takes
            # {"type": "json_schema", "json_schema": {"schema": ...}} and a top-level "json_schema".
            body["response_format"] = {"type": "json_object", "schema": request.json_schema}
        elif backend == "vllm":
            # vLLM docs, features/structured_outputs (https://docs.vllm.ai/en/latest/features/structured_outputs/):
            # guided_json etc. were removed in v0.12.0 and replaced by {"structured_outputs": {"json": ...}}
            # as an extra body parameter of the Chat API.
            body["structured_outputs"] = {"json": request.json_schema}
        else:
            raise LLMError(f"unknown LLM backend {backend!r}: expected 'llamacpp' or 'vllm'")
    if backend == "llamacpp":
        # Always explicit, even for the base model: this llama-server clears a slot's cached prompt on a change
        # of adapters only when the request lists them (tools/server/server-context.cpp, launch_slot_with_task),
        # so a base request after an adapter's would otherwise reuse KV computed with the adapter. Unknown ids
        # are ignored, so a server without adapters takes this too.
        body["lora"] = [{"id": lora_id, "scale": 1.0} if lora_id is not None else {"id": 0, "scale": 0.0}]
    return body


def parse_json_reply(text: str) -> Any | None:
    """The JSON value in a reply, tolerating code fences and chatter around it; None when there is none."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    # First position where a whole object or array decodes (skips "```json" fences and prose before it).
    for start, char in enumerate(stripped):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(stripped, start)
            except json.JSONDecodeError:
                continue
            return value
    return None


def _is_retryable_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


class LLMClient:
    """Chat completions with caching, bounded retries and a thread pool for batches. With ``adapter`` every
    request goes to that LoRA adapter of the endpoint, and replies are cached and labelled under its
    :attr:`~mokg.llm.adapters.ServedAdapter.label`."""

    def __init__(
        self,
        settings: Settings,
        *,
        cache: LLMCache | None = None,
        use_cache: bool = True,
        max_attempts: int = 4,
        backoff_s: float = 1.0,
        adapter: ServedAdapter | None = None,
    ) -> None:
        self.settings = settings
        self.url = (adapter.url if adapter else settings.llm_url).rstrip("/") + "/chat/completions"
        self.adapter = adapter
        self.sent_model = adapter.model if adapter else settings.llm_model
        self.model = adapter.label if adapter else settings.llm_model  # provenance and cache key
        self.cache = (cache or LLMCache.for_settings(settings)) if use_cache else None
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self._local = threading.local()

    def _session(self) -> requests.Session:
        # requests.Session is not documented as thread-safe: one per worker thread.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self.settings.llm_headers)
            self._local.session = session
        return session

    def chat(
        self,
        messages: list[Message],
        *,
        json_schema: dict[str, Any] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        seed: int | None = None,
        sample_index: int = 0,
    ) -> ChatResult:
        return self.complete(ChatRequest(messages, json_schema, temperature, max_tokens, seed, sample_index))

    def samples(
        self,
        messages: list[Message],
        n: int,
        *,
        json_schema: dict[str, Any] | None = None,
        temperature: float = 0.8,
        max_tokens: int = 256,
        seed: int | None = None,
        progress: Progress | None = None,
    ) -> list[ChatResult]:
        """``n`` samples of one prompt (sample indices 0..n-1), each cached on its own."""
        requests_ = [ChatRequest(messages, json_schema, temperature, max_tokens, seed, i) for i in range(n)]
        return self.chat_many(requests_, progress)

    def complete(self, request: ChatRequest) -> ChatResult:
        key = request.cache_key()
        if self.cache is not None:
            hit = self.cache.get(self.model, key)
            if hit is not None:
                return self._result(hit, cached=True)
        lora_id = self.adapter.lora_id if self.adapter else None
        reply = self._post(build_request_body(self.settings.llm_backend, self.sent_model, request, lora_id))
        if self.cache is not None:
            self.cache.put(self.model, key, reply)
        return self._result(reply, cached=False)

    def chat_many(
        self, requests: Sequence[ChatRequest], progress: Progress | None = None
    ) -> list[ChatResult]:
        """Results in request order; up to ``llm_parallel`` requests in flight (one per slot of the embedded
        llama-server). The first failure cancels what has not started and is raised; finished replies stay
        cached for the re-run."""
        total = len(requests)
        results: list[ChatResult | None] = [None] * total
        done = 0
        lock = threading.Lock()

        def run(index: int) -> None:
            nonlocal done
            results[index] = self.complete(requests[index])
            with lock:
                done += 1
                if progress is not None:
                    progress(done, total)

        with ThreadPoolExecutor(max_workers=max(1, self.settings.llm_parallel)) as pool:
            futures: list[Future[None]] = [pool.submit(run, i) for i in range(total)]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            errors = [exc for exc in (f.exception() for f in finished) if exc is not None]
            if errors:
                for future in futures:
                    future.cancel()
                raise errors[0]
        return [r for r in results if r is not None]

    def _result(self, reply: CachedReply, *, cached: bool) -> ChatResult:
        return ChatResult(
            text=reply.text,
            parsed_json=parse_json_reply(reply.text),
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cached=cached,
            model=self.model,
        )

    def _post(self, body: dict[str, Any]) -> CachedReply:
        reason = ""
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._session().post(self.url, json=body, timeout=self.settings.llm_timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                continue
            if response.ok:
                return self._parse_response(response)
            reason = f"HTTP {response.status_code}: {response.text[:500]}"
            if not _is_retryable_status(response.status_code):
                break
        raise LLMError(f"LLM request to {self.url} failed after {attempt + 1} attempt(s): {reason}")

    def _parse_response(self, response: requests.Response) -> CachedReply:
        try:
            payload = response.json()
            text = payload["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"LLM endpoint {self.url} sent no chat completion ({exc!r}): {response.text[:500]}"
            ) from exc
        usage = payload.get("usage") or {}
        return CachedReply(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
