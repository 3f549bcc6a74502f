"""One client for OpenAI-compatible chat endpoints (embedded llama.cpp server, or vLLM).

Every reply goes through :class:`~mokg.llm.cache.LLMCache` first, so a re-run only pays for what is missing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Protocol

import requests

from mokg.config import Settings
from mokg.llm.adapters import ServedAdapter
from mokg.llm.cache import CachedReply, LLMCache, request_hash

log = logging.getLogger(__name__)

Message = dict[str, str]
Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each finished request."""


class LLMError(RuntimeError):
    """A chat request failed for good (after retries where retrying made sense): refused by the endpoint
    (HTTP 4xx but 408/429), or answered with something that is no chat completion."""


class LLMUnavailable(LLMError):
    """The endpoint could not answer (connection, timeout, broken body, HTTP 5xx/408/429) after the client's
    own retries: worth a later retry, unlike a refused request."""


# a malformed address or header is configuration, not an outage: the same request fails the same way
_REQUEST_REFUSED = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
)


@dataclass(frozen=True)
class ChatRequest:
    messages: list[Message]
    json_schema: dict[str, Any] | None = None
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = None
    # Which of n samples this is: part of the cache key, and shifts the seed of a request sent on its own.
    sample_index: int = 0

    def cache_key(self, samples: int = 1) -> str:
        """``samples`` > 1: this sample is one choice of a request for that many (:func:`sample_groups`)."""
        return request_hash(
            self.messages,
            json_schema=self.json_schema,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=self.seed,
            sample_index=self.sample_index,
            samples=samples,
        )


def sample_groups(requests: Sequence[ChatRequest], max_size: int) -> list[list[int]]:
    """The requests' indices, with samples 0..k-1 of one prompt that follow each other in one group, cut into
    pieces of at most ``max_size`` (llama-server refuses more choices than it has slots). A group goes to the
    server as one request for k choices (``n``): it processes the prompt once, where k requests would each
    process it, and on a CPU the prompt is most of the work."""
    runs: list[list[int]] = []
    for i, request in enumerate(requests):
        if runs:
            head = requests[runs[-1][0]]
            if request.sample_index == len(runs[-1]) and replace(request, sample_index=0) == head:
                runs[-1].append(i)
                continue
        runs.append([i])
    size = max(1, max_size)
    return [run[a : a + size] for run in runs for a in range(0, len(run), size)]


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
    backend: str, model: str, request: ChatRequest, lora_id: int | None = None, samples: int = 1
) -> dict[str, Any]:
    """The JSON body of ``POST {base}/chat/completions`` for ``backend`` (``llamacpp`` or ``vllm``);
    ``lora_id`` applies that llama-server adapter to this request (vLLM picks an adapter by ``model``);
    ``samples`` choices of ``request``, which is then sample 0 of its group."""
    body: dict[str, Any] = {
        "model": model,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "n": samples,
        "stream": False,
    }
    if request.seed is not None:
        # Same seed for every sample would give n identical samples; offset it by the sample index. The
        # choices of one request are sampled apart by the server itself.
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
    except RecursionError:  # nesting deeper than the parser's stack: no usable JSON (and it would recur)
        return None
    decoder = json.JSONDecoder()
    # First position where a whole object or array decodes (skips "```json" fences and prose before it).
    for start, char in enumerate(stripped):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(stripped, start)
            except json.JSONDecodeError:
                continue
            except RecursionError:
                return None
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
        self.cache = (cache if cache is not None else LLMCache.for_settings(settings)) if use_cache else None
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
        return self.complete_samples([request])[0]

    def complete_samples(self, group: Sequence[ChatRequest]) -> list[ChatResult]:
        """Consecutive samples of one prompt (a group of :func:`sample_groups`, or one request) in one
        request; the first one's sample index sets the seed."""
        k = len(group)
        keys = [r.cache_key(samples=k) for r in group]
        if self.cache is not None:
            hits = [self.cache.get(self.model, key) for key in keys]
            if all(hit is not None for hit in hits):
                return [self._result(hit, cached=True) for hit in hits if hit is not None]
        lora_id = self.adapter.lora_id if self.adapter else None
        body = build_request_body(self.settings.llm_backend, self.sent_model, group[0], lora_id, samples=k)
        replies = self._post(body, k)
        if self.cache is not None:
            for key, reply in zip(keys, replies, strict=True):
                self.cache.put(self.model, key, reply)
        return [self._result(reply, cached=False) for reply in replies]

    def chat_many(
        self, requests: Sequence[ChatRequest], progress: Progress | None = None
    ) -> list[ChatResult]:
        """Results in request order; up to ``llm_parallel`` requests in flight (one per slot of the embedded
        llama-server), the samples of one prompt in one request (:func:`sample_groups`). The first failure
        cancels what has not started and is raised; finished replies stay cached for the re-run."""
        total = len(requests)
        results: list[ChatResult | None] = [None] * total
        done = 0
        lock = threading.Lock()

        def run(group: list[int]) -> None:
            nonlocal done
            for index, result in zip(group, self.complete_samples([requests[i] for i in group]), strict=True):
                results[index] = result
            with lock:
                done += len(group)
                if progress is not None:
                    progress(done, total)

        with ThreadPoolExecutor(max_workers=max(1, self.settings.llm_parallel)) as pool:
            futures: list[Future[None]] = [
                pool.submit(run, g) for g in sample_groups(requests, self.settings.llm_parallel)
            ]
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

    def _post(self, body: dict[str, Any], samples: int) -> list[CachedReply]:
        reason = ""
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._session().post(self.url, json=body, timeout=self.settings.llm_timeout_s)
            except _REQUEST_REFUSED as exc:
                raise LLMError(
                    f"LLM request to {self.url} cannot be sent: {type(exc).__name__}: {exc}"
                ) from exc
            except requests.RequestException as exc:  # connection, timeout, a body cut short or undecodable
                reason = f"{type(exc).__name__}: {exc}"
                continue
            if response.ok:
                return self._parse_response(response, samples)
            reason = f"HTTP {response.status_code}: {response.text[:500]}"
            if not _is_retryable_status(response.status_code):
                raise LLMError(f"LLM request to {self.url} refused: {reason}")
        raise LLMUnavailable(f"LLM request to {self.url} failed after {attempt + 1} attempt(s): {reason}")

    def _parse_response(self, response: requests.Response, samples: int) -> list[CachedReply]:
        """The replies of a 200 answer. Its body is untrusted: any other shape than a chat completion's
        raises LLMError, never an error of the parsing itself."""
        try:
            payload = response.json()
        except (ValueError, RecursionError) as exc:
            raise self._malformed(response, f"no JSON ({type(exc).__name__})") from exc
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list) or not all(
            isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices
        ):
            raise self._malformed(response, "no list of choices with a message each")
        if not all(type(c.get("index", 0)) is int for c in choices):
            raise self._malformed(response, "a choice index that is no integer")
        choices = sorted(choices, key=lambda c: int(c.get("index", 0)))
        texts = [c["message"].get("content") or "" for c in choices]
        if not all(isinstance(text, str) for text in texts):
            raise self._malformed(response, "a message content that is no string")
        if len(texts) != samples:
            raise LLMError(f"LLM endpoint {self.url} sent {len(texts)} choices, {samples} asked")
        usage = payload.get("usage") or {}
        if not isinstance(usage, dict):
            raise self._malformed(response, "a usage that is no object")
        prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
        if type(prompt) is not int or type(completion) is not int or prompt < 0 or completion < 0:
            raise self._malformed(response, "token counts that are no counts")
        if samples == 1:
            return [CachedReply(texts[0], prompt, completion)]
        # The prompt was processed once: it is counted on the first sample. llama-server's usage counts only
        # the first choice's completion, so the others are counted by its tokenizer; vLLM's is the total.
        if self.settings.llm_backend == "llamacpp":
            counts = [completion] + [self._count_tokens(t, completion, texts[0]) for t in texts[1:]]
        else:
            counts = [completion // samples + (i < completion % samples) for i in range(samples)]
        return [
            CachedReply(text, prompt if i == 0 else 0, count)
            for i, (text, count) in enumerate(zip(texts, counts, strict=True))
        ]

    def _malformed(self, response: requests.Response, what: str) -> LLMError:
        return LLMError(f"LLM endpoint {self.url} sent no chat completion ({what}): {response.text[:500]}")

    def _count_tokens(self, text: str, first_count: int, first_text: str) -> int:
        """Tokens of ``text`` by llama-server's own tokenizer (``POST /tokenize`` at the server's root). Where
        that fails (a proxy without the route), estimated from the first choice's tokens per character: the
        count is bookkeeping, and the reply is good."""
        root = self.url.rsplit("/v1/", 1)[0]
        try:
            response = self._session().post(
                f"{root}/tokenize", json={"content": text}, timeout=self.settings.llm_timeout_s
            )
            response.raise_for_status()
            return len(response.json()["tokens"])
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            log.warning("token count of a reply estimated: %s/tokenize failed (%s)", root, exc)
            return round(first_count * len(text) / max(1, len(first_text)))
