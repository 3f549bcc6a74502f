"""A stand-in graph server for :class:`mokg.analyst.ReadOnlyRunner`: timings of connecting, listing and
terminating are set by the test, and it records what was sent and how each statement ended."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mokg import analyst
from mokg.config import Settings


class FakeServer:
    """``connect_s``: connecting and logging in; ``run_s``: a statement's run unless terminated;
    ``list_after_s``: how long after it is sent a statement is listed (a terminate before finds nothing);
    ``cancel_from_s``: terminates work only this long after the statement was sent (None: never);
    ``values``: the one row each statement returns; ``login_error``: raised when logging in."""

    def __init__(
        self,
        *,
        connect_s: float = 0.0,
        run_s: float = 0.0,
        list_after_s: float = 0.0,
        cancel_from_s: float | None = 0.0,
        values: list[Any] | None = None,
        login_error: Exception | None = None,
    ) -> None:
        self.connect_s, self.run_s, self.list_after_s = connect_s, run_s, list_after_s
        self.cancel_from_s, self.values, self.login_error = cancel_from_s, values, login_error
        self.lock = threading.Lock()
        self.sent_at: dict[str, float] = {}
        self.terminated: set[str] = set()
        self.ended: dict[str, str] = {}  # tag: "terminated" or "completed"
        self.cancels = 0

    # -- the runner's side ----------------------------------------------------------------------------

    def cancel_tagged(self, tag: str) -> int:
        with self.lock:
            self.cancels += 1
            sent = self.sent_at.get(tag)
            if sent is None or tag in self.ended or self.cancel_from_s is None:
                return 0
            age = time.monotonic() - sent
            if age < self.list_after_s or age < self.cancel_from_s:
                return 0
            self.terminated.add(tag)
            return 1

    def run(self, text: str) -> None:
        tag = text[2 : text.index("*/")]
        with self.lock:
            self.sent_at[tag] = time.monotonic()
        end = time.monotonic() + self.run_s
        while time.monotonic() < end:
            with self.lock:
                if tag in self.terminated:
                    self.ended[tag] = "terminated"
                    raise RuntimeError("terminated")
            time.sleep(0.01)
        with self.lock:
            self.ended[tag] = "completed"

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        server = self

        class Result:
            def keys(self) -> list[str]:
                return [f"c{i}" for i in range(len(server.values or []))]

            def __iter__(self) -> Iterator[Any]:
                if server.values is not None:
                    yield type("Record", (), {"values": lambda _: list(server.values or [])})()

        class Tx:
            def run(self, text: str, params: dict[str, Any]) -> Result:
                server.run(text)
                return Result()

            def rollback(self) -> None:
                pass

        class Session:
            @contextlib.contextmanager
            def begin_transaction(self, **_: Any) -> Iterator[Tx]:
                yield Tx()

        class Graph:
            def __init__(self, settings: Settings, max_retry_s: float = 0) -> None:
                pass

            def __enter__(self) -> Graph:
                return self

            def __exit__(self, *exc: Any) -> None:
                pass

            @contextlib.contextmanager
            def session(self, read_only: bool = False) -> Iterator[Session]:
                time.sleep(server.connect_s)  # the driver reaches the server and logs in here
                if server.login_error is not None:
                    raise server.login_error
                yield Session()

        monkeypatch.setattr(analyst, "Graph", Graph)
        monkeypatch.setattr(analyst, "dialect_for", lambda settings: server)
