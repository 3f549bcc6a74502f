"""The per-process resolution pool cache: loads, top-ups, own writes, TTL and the liveness check (no graph).

The real graph functions behind it (store.load_pool, entities_since, live_nodes) run against ArcadeDB in
tests/integration/test_pair_workers.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from conftest import word_embed

from mokg.pair import store
from mokg.pair.pools import PoolCache
from mokg.pair.resolution import MatchKind
from mokg.pair.store import PoolEntry, StaleTargetError

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeGraph:
    """The three graph functions of a PoolCache over an in-memory 'graph', with a fake clock."""

    supkg: list[PoolEntry] = field(default_factory=list)
    entities: dict[str, tuple[str, PoolEntry, str]] = field(default_factory=dict)  # ref -> type, entry, at
    loads: list[str] = field(default_factory=list)
    since_calls: list[str] = field(default_factory=list)
    live_calls: list[dict[str, str]] = field(default_factory=list)
    mono: float = 0.0
    wall: datetime = T0
    confirms: bool = True  # False: a graph whose liveness check never confirms anything

    def create(self, kind: str, entry: PoolEntry) -> None:
        at = self.wall.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.entities[entry.ref] = (kind, entry, at)

    def load(self, target_type: str) -> list[PoolEntry]:
        self.loads.append(target_type)
        return self.supkg + [e for k, e, _ in self.entities.values() if k == target_type]

    def since(self, since: str) -> list[tuple[str, PoolEntry]]:
        self.since_calls.append(since)
        return [(k, e) for k, e, at in self.entities.values() if at >= since]

    def live(self, linked: Mapping[str, str]) -> set[str]:
        self.live_calls.append(dict(linked))
        if not self.confirms:
            return set()
        nodes = {e.node_id: e.ref for e in self.supkg} | {
            e.node_id: e.ref for _, e, _ in self.entities.values()
        }
        return {node for node, ref in linked.items() if nodes.get(node) == ref}

    def tick(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def cache(self, **kwargs: float) -> PoolCache:
        return PoolCache(
            self.load,
            word_embed,
            since=self.since,
            live=self.live,
            clock=lambda: self.mono,
            now=lambda: self.wall,
            **kwargs,
        )


def resolve(
    cache: PoolCache, *names: str, threshold: float = 0.85
) -> list[tuple[str, str | None, MatchKind]]:
    links = cache.resolve("Product", list(names), word_embed(list(names)), threshold)
    return [(k.resolution.key, k.node_id, k.resolution.matched_by) for k in links]


def graph_with_items() -> FakeGraph:
    return FakeGraph(
        supkg=[PoolEntry("Item:B1", "Greeting Card", "#1:1"), PoolEntry("Item:B2", "Gift Box", "#1:2")]
    )


def test_the_pool_is_loaded_once_and_reloaded_after_the_ttl() -> None:
    g = graph_with_items()
    cache = g.cache(ttl_s=60, refresh_s=5)
    assert resolve(cache, "greeting cards") == [("Item:B1", "#1:1", MatchKind.NORMALIZED)]
    g.tick(30)
    assert resolve(cache, "Gift Box") == [("Item:B2", "#1:2", MatchKind.EXACT)]
    assert g.loads == ["Product"] and cache.loads == 1  # reused (a top-up ran instead)
    g.supkg.append(PoolEntry("Item:B3", "Coffee Mug", "#1:3"))  # ingested later: no top-up covers items
    assert resolve(cache, "coffee mug")[0][2] == MatchKind.NEW
    g.tick(31)  # 61 s after the load
    assert resolve(cache, "coffee mug") == [("Item:B3", "#1:3", MatchKind.NORMALIZED)]
    assert g.loads == ["Product", "Product"]


def test_own_writes_are_visible_to_the_next_resolution_without_a_query() -> None:
    g = graph_with_items()
    cache = g.cache(refresh_s=1e9)  # no top-up: only remember() can make the entity visible
    ((key, node, kind),) = resolve(cache, "Wrapping Paper")
    assert (key, node, kind) == ("Product:wrapping-paper", None, MatchKind.NEW)
    written = PoolEntry("Product:wrapping-paper", "Wrapping Paper", "#9:0")
    g.create("Product", written)
    cache.remember([("Product", written), ("Audience", PoolEntry("Audience:kid", "kids", "#9:1"))])
    assert resolve(cache, "wrapping papers") == [("Product:wrapping-paper", "#9:0", MatchKind.NORMALIZED)]
    assert g.loads == ["Product"] and not g.since_calls
    # a pool not loaded yet ignores remembered entities (its first load reads them from the graph)
    assert cache.resolve("Audience", ["kids"], word_embed(["kids"]), 0.85)[0].node_id is None


def test_top_ups_fetch_other_workers_entities_since_the_last_fetch_minus_the_overlap() -> None:
    g = graph_with_items()
    cache = g.cache(ttl_s=600, refresh_s=5, overlap_s=120)
    resolve(cache, "x")
    g.tick(2)
    g.create("Product", PoolEntry("Product:candle", "Candle", "#9:5"))  # another worker's write
    assert resolve(cache, "candles")[0][2] == MatchKind.NEW  # within refresh_s: not fetched yet
    g.tick(4)
    assert resolve(cache, "candles") == [("Product:candle", "#9:5", MatchKind.NORMALIZED)]
    assert g.since_calls == [(T0 - timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
    g.tick(6)
    resolve(cache, "candles")  # the overlap returns the candle again: skipped, not added twice
    assert g.since_calls[-1] == (T0 + timedelta(seconds=6 - 120)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert cache.top_ups == 2 and cache.loads == 1


def test_a_removed_node_is_never_linked_even_when_its_element_id_was_reused() -> None:
    g = graph_with_items()
    g.create("Product", PoolEntry("Product:candle", "Candle", "#9:5"))
    cache = g.cache(refresh_s=1e9)
    assert resolve(cache, "Candle") == [("Product:candle", "#9:5", MatchKind.EXACT)]
    del g.entities["Product:candle"]
    g.create("Product", PoolEntry("Product:lamp", "Lamp", "#9:5"))  # the id now names another node
    assert resolve(cache, "Candle") == [("Product:candle", None, MatchKind.NEW)]  # reloaded, re-resolved
    assert g.loads == ["Product", "Product"]
    assert g.live_calls[-1] == {"#9:5": "Product:candle"}
    assert resolve(cache, "Lamp") == [("Product:lamp", "#9:5", MatchKind.EXACT)]


def test_new_names_need_no_liveness_query_and_a_persistent_mismatch_raises() -> None:
    g = graph_with_items()
    cache = g.cache()
    resolve(cache, "brand new thing")
    assert not g.live_calls
    g.confirms = False
    with pytest.raises(StaleTargetError):
        resolve(cache, "greeting card")
    assert cache.loads == 2  # one reload, then it gives up (the task retries later)


def test_the_link_threshold_is_per_call() -> None:
    g = FakeGraph(supkg=[PoolEntry("Item:B1", "red wool scarf", "#1:1")])
    cache = g.cache()
    # 2 of 3 words shared: cosine 2/3
    assert resolve(cache, "red wool hat", threshold=0.9)[0][2] == MatchKind.NEW
    assert resolve(cache, "red wool hat", threshold=0.6)[:1] == [("Item:B1", "#1:1", MatchKind.EMBEDDING)]


def test_invalidate_drops_the_pools() -> None:
    g = graph_with_items()
    cache = g.cache()
    resolve(cache, "x")
    cache.invalidate("Product")
    resolve(cache, "x")
    cache.invalidate()
    resolve(cache, "x")
    assert cache.loads == 3


def test_live_nodes_compares_identity_not_only_existence() -> None:
    class Rows:
        def query(self, name: str, **params: object) -> list[dict[str, object]]:
            assert name == "mokg/pool_live" and params["node_ids"] == ["#1:1", "#2:1", "#3:1", "#9:9"]
            return [
                {"node_id": "#1:1", "labels": ["Item"], "key": None, "asin": "B1", "name": None},
                {"node_id": "#2:1", "labels": ["Store"], "key": None, "asin": None, "name": "Acme"},
                {
                    "node_id": "#3:1",
                    "labels": ["Entity"],
                    "key": "Product:lamp",
                    "asin": None,
                    "name": "Lamp",
                },
            ]

    linked = {"#1:1": "Item:B1", "#2:1": "Store:Acme", "#3:1": "Product:candle", "#9:9": "Item:B9"}
    assert store.live_nodes(Rows(), linked) == {"#1:1", "#2:1"}  # type: ignore[arg-type]
    assert store.node_refs(["Entity"], "Store:acme", None, "acme") == {"Store:acme"}
    assert store.node_refs(["Store"], None, None, "acme") == {"Store:acme"}
