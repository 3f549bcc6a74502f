"""The one clock. Every time stamp the platform writes comes from here, in one of two forms:

- ``stamp()``: ISO-8601 UTC with microseconds and a ``Z`` (``2026-12-02T06:40:00.123456Z``). Graph
  properties, reports and manifests use it. It sorts as text, on ArcadeDB and Neo4j alike, so Cypher
  compares stamps as strings.
- ``compact()``: ``20261202T064000Z``, for file names and run ids.
"""

from __future__ import annotations

from datetime import UTC, datetime

STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
COMPACT = "%Y%m%dT%H%M%SZ"


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime | None = None) -> str:
    return (moment or utc_now()).astimezone(UTC).strftime(STAMP)


def compact(moment: datetime | None = None) -> str:
    return (moment or utc_now()).astimezone(UTC).strftime(COMPACT)
