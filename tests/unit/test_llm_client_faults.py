"""The LLM client against a misbehaving server (raw HTTP answers): which faults are an outage worth a later
retry (:class:`LLMUnavailable`), which a refusal (plain :class:`LLMError`), and that no reply shape crashes the
client with an error of its own parsing."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mokg.config import Settings
from mokg.llm.client import LLMClient, LLMError, LLMUnavailable, parse_json_reply
from mokg.pair.runtime import TRANSIENT_ERRORS

MESSAGES = [{"role": "user", "content": "x"}]


@dataclass
class RawServer:
    """Answers every request with ``answer`` (raw bytes of a whole HTTP response), then closes."""

    answer: bytes = b""
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _serve(server: RawServer, sock: socket.socket) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            while len(body) < length:
                body += conn.recv(65536)
            with server.lock:
                server.requests += 1
            conn.sendall(server.answer)


@pytest.fixture
def raw() -> Iterator[tuple[RawServer, str]]:
    server = RawServer()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    thread = threading.Thread(target=_serve, args=(server, sock), daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()


def _client(url: str, home: Path) -> LLMClient:
    settings = Settings().with_(llm_base_url=url, home=home, llm_parallel=1, llm_timeout_s=5.0)
    return LLMClient(settings, use_cache=False, max_attempts=2, backoff_s=0.0)


def _json_answer(payload: Any, status: str = "200 OK") -> bytes:
    data = json.dumps(payload).encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + data


CUT_SHORT = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{"ch'
)
NOT_GZIP = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n"
    b"Connection: close\r\n\r\nnot gzip!"
)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (CUT_SHORT, "ChunkedEncodingError"),  # the server died mid-body
        (NOT_GZIP, "ContentDecodingError"),
        (_json_answer({"error": "busy"}, "503 Service Unavailable"), "HTTP 503"),
        (_json_answer({"error": "slow down"}, "429 Too Many Requests"), "HTTP 429"),
    ],
)
def test_an_unavailable_endpoint_is_retried_then_transient(
    raw: tuple[RawServer, str], tmp_path: Path, answer: bytes, reason: str
) -> None:
    server, url = raw
    server.answer = answer
    with pytest.raises(LLMUnavailable, match=rf"after 2 attempt\(s\): {reason}") as info:
        _client(url, tmp_path).chat(MESSAGES)
    assert server.requests == 2
    assert isinstance(info.value, TRANSIENT_ERRORS)


@pytest.mark.parametrize("status", ["400 Bad Request", "401 Unauthorized", "404 Not Found"])
def test_a_refused_request_is_sent_once_and_not_transient(
    raw: tuple[RawServer, str], tmp_path: Path, status: str
) -> None:
    server, url = raw
    server.answer = _json_answer({"error": "no"}, status)
    with pytest.raises(LLMError, match=f"refused: HTTP {status.split()[0]}") as info:
        _client(url, tmp_path).chat(MESSAGES)
    assert server.requests == 1
    assert not isinstance(info.value, LLMUnavailable) and not isinstance(info.value, TRANSIENT_ERRORS)


def test_a_malformed_address_is_no_outage(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="cannot be sent") as info:
        _client("htp//nowhere", tmp_path).chat(MESSAGES)
    assert not isinstance(info.value, TRANSIENT_ERRORS)


@pytest.mark.parametrize(
    ("payload", "what"),
    [
        ({"choices": ["oops"]}, "no list of choices with a message each"),
        ({"choices": "oops"}, "no list of choices"),
        ([1, 2], "no list of choices"),
        ({"choices": [{"index": "zero", "message": {"content": "x"}}]}, "choice index"),
        ({"choices": [{"message": {"content": ["a"]}}]}, "message content that is no string"),
        ({"choices": [{"message": {"content": "x"}}], "usage": [1]}, "usage that is no object"),
        ({"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "n/a"}}, "no counts"),
        ({"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": -3}}, "no counts"),
        ({"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 1.5}}, "no counts"),
    ],
)
def test_a_malformed_reply_is_the_clients_own_error(
    raw: tuple[RawServer, str], tmp_path: Path, payload: Any, what: str
) -> None:
    server, url = raw
    server.answer = _json_answer(payload)
    with pytest.raises(LLMError, match=f"sent no chat completion.*{what}") as info:
        _client(url, tmp_path).chat(MESSAGES)
    assert not isinstance(info.value, TRANSIENT_ERRORS)


def test_a_body_nested_past_the_parsers_stack_is_a_malformed_reply(
    raw: tuple[RawServer, str], tmp_path: Path
) -> None:
    server, url = raw
    data = b"[" * 100_000 + b"]" * 100_000
    server.answer = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + data
    with pytest.raises(LLMError, match="no JSON"):
        _client(url, tmp_path).chat(MESSAGES)


def test_a_well_formed_reply_still_parses(raw: tuple[RawServer, str], tmp_path: Path) -> None:
    server, url = raw
    server.answer = _json_answer(
        {"choices": [{"index": 0, "message": {"content": None}}], "usage": {"prompt_tokens": 3}}
    )
    result = _client(url, tmp_path).chat(MESSAGES)
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("", 3, 0)


@pytest.mark.parametrize(
    "text", ["[" * 5000, '{"targets": ' + "[" * 3000 + "]" * 3000 + "}", "x " + "[" * 5000]
)
def test_a_reply_nested_past_the_parsers_stack_has_no_json(text: str) -> None:
    assert parse_json_reply(text) is None
