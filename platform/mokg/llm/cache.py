"""On-disk cache of LLM replies keyed by (model, request hash), so a re-run never regenerates what exists.

One SQLite file in WAL mode: readers never block the writer, and several threads (one connection each)
and several processes (Celery workers) can share it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mokg.clock import utc_now
from mokg.config import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_reply (
    model TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (model, request_hash)
)
"""


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no whitespace): equal content, equal hash."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def request_hash(
    messages: list[dict[str, str]],
    *,
    json_schema: dict[str, Any] | None,
    temperature: float,
    max_tokens: int,
    seed: int | None,
    sample_index: int,
    samples: int = 1,
) -> str:
    """Hash of everything that changes a reply; the sample index keeps n samples at temperature>0 apart, and
    ``samples`` > 1 marks a sample drawn in one request of that many choices (sampled differently)."""
    key: dict[str, Any] = {
        "messages": messages,
        "json_schema": json_schema,
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "seed": seed,
        "sample_index": int(sample_index),
    }
    if samples > 1:
        key["samples"] = int(samples)  # absent for single requests: their keys stay as they were
    return stable_hash(key)


@dataclass(frozen=True)
class CachedReply:
    text: str
    prompt_tokens: int
    completion_tokens: int


class LLMCache:
    """Thread-safe (one connection per thread) and process-safe (WAL, busy timeout) reply cache."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)

    @classmethod
    def for_settings(cls, settings: Settings) -> LLMCache:
        return cls(settings.home / "cache" / "llm.sqlite")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # autocommit (isolation_level=None): every put is its own short transaction.
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, model: str, key: str) -> CachedReply | None:
        row = (
            self._conn()
            .execute(
                "SELECT text, prompt_tokens, completion_tokens FROM llm_reply"
                " WHERE model = ? AND request_hash = ?",
                (model, key),
            )
            .fetchone()
        )
        return None if row is None else CachedReply(row[0], int(row[1]), int(row[2]))

    def put(self, model: str, key: str, reply: CachedReply) -> None:
        # OR IGNORE: when two workers raced on the same request the first stored reply wins.
        self._conn().execute(
            "INSERT OR IGNORE INTO llm_reply VALUES (?, ?, ?, ?, ?, ?)",
            (model, key, reply.text, reply.prompt_tokens, reply.completion_tokens, utc_now().timestamp()),
        )

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM llm_reply").fetchone()[0])
