"""The one clock: stamps that sort as text in time order, and compact names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mokg.clock import compact, stamp, utc_now


def test_stamp_is_utc_iso_with_microseconds_and_z() -> None:
    moment = datetime(2026, 12, 2, 6, 40, 0, 123456, tzinfo=UTC)
    assert stamp(moment) == "2026-12-02T06:40:00.123456Z"
    # another zone is converted, not relabelled
    assert stamp(moment.astimezone(timezone(timedelta(hours=2)))) == "2026-12-02T06:40:00.123456Z"
    assert compact(moment) == "20261202T064000Z"


def test_stamps_sort_as_text_in_time_order() -> None:
    base = datetime(2026, 1, 9, 23, 59, 59, 999999, tzinfo=UTC)
    moments = [
        base + timedelta(microseconds=step) for step in (0, 1, 10**6, 86_400 * 10**6, 400 * 86_400 * 10**6)
    ]
    texts = [stamp(m) for m in moments]
    assert sorted(texts) == texts and len(set(texts)) == len(texts)


def test_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert stamp().endswith("Z") and len(stamp()) == len("2026-12-02T06:40:00.123456Z")
