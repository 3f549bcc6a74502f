"""The resolution pools of a worker process: loaded once, topped up cheaply, reloaded after a TTL.

A pool is what a mined target of one type may link to (:func:`mokg.pair.store.load_pool`: SupKG Items or
Stores, then the MoKG Entities of the type) with its :class:`~mokg.pair.resolution.EntityResolver` — the
names normalised and embedded once. Loading it costs a query over every candidate node plus the
normalisation of every name, so a worker keeps it between tasks and keeps it current in three ways:

* **its own writes** — :meth:`PoolCache.remember` adds the Entities a task just MERGEd (with the element ids
  the write returned), so the next task in the process links to them at once;
* **other workers' writes** — at most every ``refresh_s`` a *top-up* fetches the Entities created since the
  last fetch (``created_at``, indexed) minus ``overlap_s``: ``created_at`` is the writer's clock when it
  built the triples, so the overlap covers clock skew and writes that commit after a later one; rows
  already in the pool are skipped;
* **everything else** (new SupKG nodes from an ingest, deleted or renamed nodes, an Entity the top-up
  missed) — the pool is reloaded when it is older than ``ttl_s``.

Correctness does not depend on freshness:

* a *missing* entry can only cost a link, never create a duplicate: a name that does not link becomes
  ``<Type>:<normalised name>``, the same key any earlier mining of an equal name produced, and the write
  MERGEs on that key (unique constraint ``entity_key``); two workers creating one key race on the
  constraint and the loser's task retries;
* a *stale* entry — a node deleted since the load, whose element id ArcadeDB may even hand to a new node —
  is never linked: before a resolution is returned every node it links is checked in the graph (by element
  id *and* identity: Entity key, Item ASIN, Store name); on a mismatch the pool is reloaded and the names
  resolved again. The write checks the identity once more (``merge_mined_existing``), for a deletion in the
  milliseconds between the check and the write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from mokg.clock import stamp, utc_now
from mokg.pair.resolution import EntityResolver, KnownEntity, Resolution
from mokg.pair.store import PoolEntry, StaleTargetError

LoadFn = Callable[[str], Sequence[PoolEntry]]
"""Every node a target of the given type may link to (SupKG nodes first)."""
SinceFn = Callable[[str], Sequence[tuple[str, PoolEntry]]]
"""(entity type, entry) of every MoKG Entity created at or after an ISO-8601 UTC time."""
LiveFn = Callable[[Mapping[str, str]], set[str]]
"""Of {element id: ref}, the element ids whose node still exists with that identity."""
EmbedFn = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Link:
    """A resolved name: the existing node's element id when it links, None for a new Entity."""

    resolution: Resolution
    node_id: str | None


@dataclass
class _Pool:
    resolver: EntityResolver
    node_ids: dict[str, str]  # ref -> element id
    loaded_at: float  # monotonic


class PoolCache:
    """Resolution pools by target type, shared by the tasks of one process (thread-safe)."""

    def __init__(
        self,
        load: LoadFn,
        embed: EmbedFn,
        *,
        since: SinceFn | None = None,
        live: LiveFn | None = None,
        ttl_s: float = 300.0,
        refresh_s: float = 5.0,
        overlap_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        if ttl_s < 0 or refresh_s < 0 or overlap_s < 0:
            raise ValueError("ttl_s, refresh_s and overlap_s must not be negative")
        self._load, self._embed, self._since, self._live = load, embed, since, live
        self.ttl_s, self.refresh_s, self.overlap_s = ttl_s, refresh_s, overlap_s
        self._clock, self._now = clock, now
        self._pools: dict[str, _Pool] = {}
        self._watermark = ""  # top-ups fetch Entities created at or after this time
        self._topped_at = 0.0
        self._lock = threading.RLock()
        self.loads = 0  # full loads so far (tests, logs)
        self.top_ups = 0

    # -- the pool of one type -----------------------------------------------------------------------------
    def _fresh(self, target_type: str) -> _Pool:
        now = self._clock()
        pool = self._pools.get(target_type)
        if pool is None or now - pool.loaded_at >= self.ttl_s:
            return self._reload(target_type, now)
        if self._since is not None and now - self._topped_at >= self.refresh_s:
            self._top_up(now)
        return pool

    def _reload(self, target_type: str, now: float) -> _Pool:
        started = self._now()
        entries = list(self._load(target_type))
        embeddings = self._embed([e.name for e in entries]) if entries else None
        resolver = EntityResolver([KnownEntity(e.ref, e.name) for e in entries], embeddings)
        pool = _Pool(resolver, {e.ref: e.node_id for e in entries}, now)
        self._pools[target_type] = pool
        self.loads += 1
        if len(self._pools) == 1:  # the first pool: top-ups start from its load
            self._watermark, self._topped_at = stamp(started - timedelta(seconds=self.overlap_s)), now
        return pool

    def _top_up(self, now: float) -> None:
        assert self._since is not None
        started = self._now()
        rows = self._since(self._watermark)
        self._add(rows)
        self._watermark, self._topped_at = stamp(started - timedelta(seconds=self.overlap_s)), now
        self.top_ups += 1

    def _add(self, rows: Sequence[tuple[str, PoolEntry]]) -> None:
        """Add entries to the loaded pools of their type; an entry already there (same ref and node) is
        skipped, a ref with a new element id (the node was re-created) points to the new node."""
        by_type: dict[str, list[PoolEntry]] = {}
        for kind, entry in rows:
            pool = self._pools.get(kind)
            if pool is None or pool.node_ids.get(entry.ref) == entry.node_id:
                continue
            if entry.ref in pool.node_ids:
                pool.node_ids[entry.ref] = entry.node_id
            else:
                by_type.setdefault(kind, []).append(entry)
        for kind, entries in by_type.items():
            pool = self._pools[kind]
            fresh = list({e.ref: e for e in entries}.values())
            pool.resolver.add(
                [KnownEntity(e.ref, e.name) for e in fresh], self._embed([e.name for e in fresh])
            )
            pool.node_ids.update({e.ref: e.node_id for e in fresh})

    # -- public -------------------------------------------------------------------------------------------
    def resolve(
        self, target_type: str, names: Sequence[str], embeddings: np.ndarray | None, threshold: float
    ) -> list[Link]:
        """Resolve ``names`` against the pool of ``target_type``; every node a name links to was checked to
        still exist with the identity the pool knows (else the pool is reloaded and the names resolved
        again). Raises :class:`StaleTargetError` if even a fresh pool links to a vanished node."""
        with self._lock:
            for _ in range(2):
                pool = self._fresh(target_type)
                resolutions = pool.resolver.resolve(names, target_type, embeddings, threshold)
                links = [
                    Link(r, pool.node_ids.get(r.existing_key) if r.existing_key else None)
                    for r in resolutions
                ]
                linked = {k.node_id: k.resolution.key for k in links if k.node_id is not None}
                complete = all(k.node_id is not None for k in links if k.resolution.existing_key)
                if complete and (self._live is None or not linked or self._live(linked) >= set(linked)):
                    return links
                self._pools.pop(target_type, None)  # stale: reload on the next pass
        raise StaleTargetError(f"the {target_type} pool links to nodes that no longer exist, even reloaded")

    def remember(self, entities: Sequence[tuple[str, PoolEntry]]) -> None:
        """(entity type, entry) of Entities this process just MERGEd: visible to the next resolution."""
        with self._lock:
            self._add(entities)

    def invalidate(self, target_type: str | None = None) -> None:
        """Drop one pool (or all): the next resolution reloads it."""
        with self._lock:
            if target_type is None:
                self._pools.clear()
            else:
                self._pools.pop(target_type, None)
