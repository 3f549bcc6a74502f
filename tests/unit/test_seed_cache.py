"""The web's seed cache: least recently used out first, and entries read again after their time to live."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mokg.config import Settings, SettingsError
from mokg.lookalike.audience import SeedCache


def _row(user: str, x: float) -> dict[str, object]:
    return {"user_id": user, "found": True, "embedding": np.array([x, 1.0]), "version": "v1"}


def test_an_entry_is_served_until_its_time_to_live_passes() -> None:
    cache = SeedCache(10, ttl_s=0.2)
    cache.put([_row("a", 0.0), _row("b", 1.0)])
    assert set(cache.get(["a", "b", "c"])) == {"a", "b"}
    assert (cache.hits, cache.misses) == (2, 1)
    time.sleep(0.3)
    assert cache.get(["a", "b"]) == {}  # stale: the caller reads them from the graph again
    assert len(cache) == 0
    cache.put([_row("a", 5.0)])
    assert cache.get(["a"])["a"]["embedding"][0] == 5.0


def test_zero_reads_every_time_and_none_keeps_until_evicted() -> None:
    never = SeedCache(10, ttl_s=0)
    never.put([_row("a", 0.0)])
    assert never.get(["a"]) == {}
    forever = SeedCache(2)
    forever.put([_row("a", 0.0), _row("b", 0.0)])
    forever.get(["a"])  # a is now the most recently used
    forever.put([_row("c", 0.0)])
    assert set(forever.get(["a", "b", "c"])) == {"a", "c"}


def test_a_negative_time_to_live_is_refused() -> None:
    with pytest.raises(SettingsError, match="MOKG_WEB_SEED_TTL_S=-1"):
        Settings(web_seed_ttl_s=-1)
