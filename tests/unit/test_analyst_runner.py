"""The runner's time limit against a stand-in server: a statement it gives up on never keeps running there,
and its answer says "stopped" only when the statement did stop. (tests/integration/test_analyst_readonly.py
proves the same against ArcadeDB with a real slow statement.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import neo4j.exceptions
import pytest
from analyst_fakes import FakeServer

from mokg.analyst import CypherTimeout, CypherTooDeep, ReadOnlyRunner
from mokg.config import Settings


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[ReadOnlyRunner]:
    r = ReadOnlyRunner(Settings(home=tmp_path, analyst_graph_password="unused"))
    yield r
    r._pool.shutdown(wait=True)  # every job has ended: what the server saw is final


def _finish(runner: ReadOnlyRunner) -> None:
    runner._pool.shutdown(wait=True)
    assert runner._per_key == {} and runner._held == {}  # every slot is free again


def test_a_slow_login_does_not_let_a_timed_out_statement_run_on(
    runner: ReadOnlyRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # logging in takes longer than the time limit: a terminate at submit + timeout would find nothing
    server = FakeServer(connect_s=0.4, run_s=2.0)
    server.install(monkeypatch)
    with pytest.raises(CypherTimeout, match="was stopped"):
        runner.run("MATCH (n) RETURN count(n) AS n", timeout_s=0.1)
    _finish(runner)
    assert list(server.ended.values()) == ["terminated"]


def test_a_statement_given_up_on_while_connecting_is_never_sent(
    runner: ReadOnlyRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeServer(connect_s=0.5, run_s=2.0)
    server.install(monkeypatch)
    runner.connect_wait_s = 0.1
    t0 = time.monotonic()
    with pytest.raises(CypherTimeout, match="not sent"):
        runner.run("MATCH (n) RETURN count(n) AS n", timeout_s=0.2)
    assert time.monotonic() - t0 < 0.4
    _finish(runner)
    assert server.sent_at == {}


def test_the_terminate_is_sent_again_until_the_statement_has_ended(
    runner: ReadOnlyRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the server lists the statement only 0.4 s after it was sent: the first terminate finds nothing
    server = FakeServer(run_s=2.0, list_after_s=0.4)
    server.install(monkeypatch)
    with pytest.raises(CypherTimeout, match="was stopped"):
        runner.run("MATCH (n) RETURN count(n) AS n", timeout_s=0.1)
    _finish(runner)
    assert list(server.ended.values()) == ["terminated"] and server.cancels >= 2


def test_an_unconfirmed_stop_is_not_called_stopped_and_is_carried_out_later(
    runner: ReadOnlyRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeServer(run_s=4.0, cancel_from_s=0.8)  # terminates work only 0.8 s after the statement began
    server.install(monkeypatch)
    runner.cancel_wait_s = 0.3
    with pytest.raises(CypherTimeout) as e:
        runner.run("MATCH (n) RETURN count(n) AS n", timeout_s=0.1)
    assert "was stopped" not in str(e.value) and "had not confirmed it within 0.3 s" in str(e.value)
    _finish(runner)
    assert list(server.ended.values()) == ["terminated"]  # by the background terminates


def test_the_time_limit_starts_when_the_statement_is_sent(
    runner: ReadOnlyRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeServer(connect_s=0.3, run_s=0.2, values=[1])
    server.install(monkeypatch)
    assert runner.run("RETURN 1 AS one", timeout_s=0.4).rows == [[1]]


def test_a_refused_login_is_raised_as_it_is(runner: ReadOnlyRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(login_error=neo4j.exceptions.AuthError("unauthorized"))
    server.install(monkeypatch)
    t0 = time.monotonic()
    with pytest.raises(neo4j.exceptions.AuthError):
        runner.run("RETURN 1 AS one", timeout_s=5.0)
    assert time.monotonic() - t0 < 1.0
    _finish(runner)
    assert server.sent_at == {}


def test_a_result_nested_too_deep_is_refused_and_terminated(
    runner: ReadOnlyRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep: list[object] = []
    for _ in range(300):
        deep = [deep]
    server = FakeServer(values=[deep])
    server.install(monkeypatch)
    with pytest.raises(CypherTooDeep, match="deeper than 100 levels"):
        runner.run("RETURN reduce(x = [], i IN range(1, 300) | [x]) AS x")
    assert server.cancels == 1
