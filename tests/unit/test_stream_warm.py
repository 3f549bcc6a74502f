"""When an ingest worker warms the stream runtime at start, and the boolean setting that turns it off."""

from __future__ import annotations

import pytest

from mokg.apps.workers.tasks import warms_streamer
from mokg.config import Settings, SettingsError


def test_a_process_that_runs_ingest_tasks_warms_and_only_when_enabled() -> None:
    assert warms_streamer({"ingest"}, runs_tasks=True)  # a solo worker, or a prefork child
    assert warms_streamer({"pair", "ingest"}, runs_tasks=True)
    assert not warms_streamer({"pair"}, runs_tasks=True)  # a PAIR worker never loads the stream runtime
    assert not warms_streamer({"ingest"}, runs_tasks=False)  # a prefork parent: its children run the tasks
    assert not warms_streamer({"ingest"}, runs_tasks=True, enabled=False)


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("yes", True), (" On ", True), ("0", False), ("false", False)]
)
def test_the_warm_setting_reads_the_usual_booleans(
    monkeypatch: pytest.MonkeyPatch, raw: str, value: bool
) -> None:
    monkeypatch.setenv("MOKG_STREAM_WARM", raw)
    assert Settings().stream_warm is value


def test_a_bad_warm_setting_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOKG_STREAM_WARM", "maybe")
    with pytest.raises(SettingsError, match="MOKG_STREAM_WARM='maybe': expected one of 1, 0"):
        Settings()
