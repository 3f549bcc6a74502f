"""What the PAIR task retries and how long it may run: only faults that a later try can cure are retried (an
outage of the LLM endpoint or the graph server), never a refusal, a bad query or a bad configuration; the
task ends, recorded, before the broker would deliver its message again; no pool shares one runtime between
threads."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import neo4j
import pytest
from click.testing import CliRunner

from mokg.apps.cli import main
from mokg.apps.workers.app import transport_options
from mokg.llm.cache import CachedReply, LLMCache
from mokg.llm.client import LLMError, LLMUnavailable
from mokg.pair import store
from mokg.pair.runtime import TRANSIENT_ERRORS


@pytest.mark.parametrize(
    "error",
    [
        LLMUnavailable("down"),
        neo4j.exceptions.ServiceUnavailable("down"),
        neo4j.exceptions.SessionExpired("gone"),
        neo4j.exceptions.TransientError("deadlock"),
        store.StaleTargetError("deleted"),
        ConnectionError(),
        TimeoutError(),
    ],
)
def test_outages_are_retried(error: Exception) -> None:
    assert isinstance(error, TRANSIENT_ERRORS)


@pytest.mark.parametrize(
    "error",
    [
        LLMError("HTTP 400: context length exceeded"),
        neo4j.exceptions.AuthError("wrong password"),
        neo4j.exceptions.CypherSyntaxError("bad query"),
        neo4j.exceptions.ClientError("bad parameter"),
        neo4j.exceptions.DatabaseError("internal"),
        neo4j.exceptions.ConfigurationError("bad uri"),
        ValueError("invalid configuration"),
    ],
)
def test_refusals_and_mistakes_are_not_retried(error: Exception) -> None:
    assert not isinstance(error, TRANSIENT_ERRORS)


def test_the_task_ends_before_its_message_is_delivered_again() -> None:
    from mokg.apps.workers.tasks import mine_entity

    visibility = transport_options()["visibility_timeout"]
    assert mine_entity.soft_time_limit is not None and mine_entity.time_limit is not None
    assert mine_entity.soft_time_limit < mine_entity.time_limit < visibility


def test_the_delivery_cap_leaves_room_for_every_retry_of_the_task() -> None:
    from mokg.apps.workers.tasks import mine_entity

    assert mine_entity.max_retries is not None
    assert mine_entity.max_retries + 1 < store.MAX_DELIVERIES  # and a few redeliveries after a lost worker


def test_the_thread_pool_is_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "execv", lambda *_: pytest.fail("exec'd into Celery"))
    result = CliRunner().invoke(main, ["worker", "--pool", "threads"])
    assert result.exit_code == 2 and "'threads' is not one of" in result.output


def test_the_cache_stamps_replies_by_the_platform_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr("mokg.llm.cache.utc_now", lambda: moment)
    cache = LLMCache(tmp_path / "llm.sqlite")
    cache.put("m", "k", CachedReply("text", 1, 2))
    with sqlite3.connect(tmp_path / "llm.sqlite") as db:
        (created,) = db.execute("SELECT created_at FROM llm_reply").fetchone()
    assert created == moment.timestamp()
