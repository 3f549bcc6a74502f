"""What a worker runs: one PAIR task per source (claim → κ_S → mine → MERGE → done) and the per-process
:class:`Runtime` it runs in. A LightPAIR run (``miner="lightpair"``) runs the same task with the adapter's
client: the same claim, resolution, MERGE and crash safety.

**Write** — MERGE on stable keys with provenance {votes, vote_share, plausibility, score, prompt_ids,
steps, model, scorer, matched_by, at, run_id}; then the source is marked done. Re-mining adds and updates
triples, never deletes: a triple mined by an older run stays with its provenance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import neo4j
import numpy as np

from mokg.clock import stamp
from mokg.config import Settings
from mokg.graph import Graph
from mokg.llm import LLMClient, LLMUnavailable, TextEmbedder
from mokg.llm.adapters import AdapterNotServed, served_adapter
from mokg.llm.client import ChatBackend, ChatRequest, ChatResult, Progress
from mokg.pair import store
from mokg.pair.config import MiningConfig
from mokg.pair.miner import Miner
from mokg.pair.pools import PoolCache
from mokg.pair.results import EntityOutcome
from mokg.pair.schema import RelationSchema
from mokg.pair.scorer import EmbedFn, PlausibilityScorer
from mokg.pair.store import SourceRef
from mokg.pair.training import load_scorer, scorer_root

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    LLMUnavailable,  # the endpoint could not answer after the client's own retries (a refusal is no outage)
    AdapterNotServed,  # a LightPAIR adapter the LLM server does not hold (yet: it may be restarting with it)
    neo4j.exceptions.ServiceUnavailable,
    neo4j.exceptions.SessionExpired,
    neo4j.exceptions.TransientError,
    # two workers creating one entity: the retry's MERGE finds the winner's node
    neo4j.exceptions.ConstraintError,
    store.StaleTargetError,  # a linked node was deleted between resolution and write: retry, pool reloaded
    ConnectionError,
    TimeoutError,
)
"""Errors a task retries with backoff; anything else fails the source at once."""


class InvalidConfig(ValueError):
    """The mining configuration of a message does not parse: retrying cannot help."""


class EmbedCache:
    """Memoised text embeddings: pool names (item titles, stores) recur in every task of a worker."""

    def __init__(self, embed: EmbedFn, max_items: int = 200_000) -> None:
        self.embed = embed
        self.max_items = max_items
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            if len(self._cache) + len(missing) > self.max_items:
                self._cache.clear()
            vectors = np.asarray(self.embed(missing), dtype=np.float32)
            self._cache.update(zip(missing, vectors, strict=True))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


class AdapterClient:
    """The client of one LightPAIR adapter, made on first use: an adapter the server lacks then fails the
    source (recorded on it, retried) like any other LLM error, instead of failing the task before its claim."""

    def __init__(self, settings: Settings, version: str, use_cache: bool = True) -> None:
        self.settings, self.version, self.use_cache = settings, version, use_cache
        self._client: LLMClient | None = None

    def chat_many(
        self, requests: Sequence[ChatRequest], progress: Progress | None = None
    ) -> list[ChatResult]:
        if self._client is None:
            adapter = served_adapter(self.settings, self.version)
            self._client = LLMClient(self.settings, use_cache=self.use_cache, adapter=adapter)
        return self._client.chat_many(requests, progress)


MinerFactory = Callable[[], Miner]


def mine_entity(
    graph: Graph,
    miner: Miner | MinerFactory,
    ref: SourceRef,
    run_id: str,
    worker: str = "",
    *,
    holdout_share: float | None = None,
    max_deliveries: int = store.MAX_DELIVERIES,
) -> EntityOutcome:
    """Mine one source and MERGE its triples. Safe to run twice: a source done in this run is skipped, and
    every write is a MERGE on stable keys. The new entities join the miner's pools at once. On an error the
    source is marked failed and the error re-raised (the task retries it). ``miner`` may be a factory, called
    after the claim, so that a miner that cannot be built (a missing scorer, an invalid configuration) fails
    the source with its error instead of leaving it pending; ``holdout_share`` then defaults to 0."""
    t0 = time.perf_counter()
    if holdout_share is None:
        holdout_share = miner.config.holdout_share if isinstance(miner, Miner) else 0.0
    source = store.fetch_source(graph, ref, holdout_share)
    if source is None:
        return EntityOutcome(str(ref), "missing")
    claim = store.claim(graph, source, run_id, worker, max_deliveries)
    if claim is store.Claim.DONE:
        return EntityOutcome(str(ref), "skipped")
    if claim is store.Claim.GAVE_UP:
        return EntityOutcome(str(ref), "gave_up")
    built: Miner | None = None
    try:
        built = miner if isinstance(miner, Miner) else miner()
        result = built.mine(source)
        written = store.write_triples(graph, source, result.writes(run_id, stamp()))
        built.pools.remember(written.entities)
        store.mark_done(graph, source, run_id, result.summary())
    except Exception as exc:
        if isinstance(exc, store.StaleTargetError) and built is not None:
            built.pools.invalidate()  # the retry resolves against freshly loaded pools
        try:
            store.mark_failed(graph, source.node_id, run_id, f"{type(exc).__name__}: {exc}")
        except Exception as state_error:  # the graph itself may be what failed; keep the first error
            exc.add_note(f"could not mark the source failed: {state_error!r}")
        raise
    return EntityOutcome(
        str(ref), "done", len(result.targets), result.counts, result.usage, time.perf_counter() - t0
    )


class Runtime:
    """What a worker process keeps between tasks: one graph driver, the LLM client, the name-embedding cache,
    the resolution pools (:class:`PoolCache`, reloaded after ``pool_ttl_s``) and the scorers by version.
    Build it lazily in the worker (after any fork), close it at shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        graph: Graph | None = None,
        llm: ChatBackend | None = None,
        embed: EmbedFn | None = None,
        pool_ttl_s: float = 300.0,
        llm_cache: bool = True,
    ) -> None:
        self.settings = settings
        self.graph = graph or Graph(settings)
        self.llm_cache = llm_cache  # False: every request reaches the server (timing runs)
        self.llm: ChatBackend = llm or LLMClient(settings, use_cache=llm_cache)
        self.raw_embed: EmbedFn = embed or TextEmbedder.from_settings(settings).encode
        self.embed = EmbedCache(self.raw_embed)
        self.schema = RelationSchema.load()
        self._scorers: dict[str, PlausibilityScorer] = {}
        self._students: dict[str, ChatBackend] = {}
        g = self.graph
        self.pools = PoolCache(
            lambda target_type: store.load_pool(g, target_type),
            self.embed,
            since=lambda since: store.entities_since(g, since),
            live=lambda linked: store.live_nodes(g, linked),
            ttl_s=pool_ttl_s,
        )

    def scorer(self, version: str) -> PlausibilityScorer | None:
        if not version:
            return None
        if version not in self._scorers:
            self._scorers[version] = load_scorer(scorer_root(self.settings.home), version, self.raw_embed)
        return self._scorers[version]

    def llm_for(self, config: MiningConfig) -> ChatBackend:
        """PAIR's client, or the LightPAIR adapter's that the config names."""
        if config.miner != "lightpair":
            return self.llm
        if config.adapter not in self._students:
            self._students[config.adapter] = AdapterClient(self.settings, config.adapter, self.llm_cache)
        return self._students[config.adapter]

    def miner(self, config: MiningConfig) -> Miner:
        scorer = self.scorer(config.scorer_version) if config.use_scorer else None
        return Miner(self.llm_for(config), self.schema, self.embed, self.pools, config, scorer)

    def mine(
        self, ref: SourceRef, run_id: str, config: MiningConfig | Mapping[str, Any], worker: str = ""
    ) -> EntityOutcome:
        """One task. ``config`` as the message carries it is parsed after the claim, with the miner, so that
        an invalid one fails the source (recorded on it) rather than the task alone."""
        parsed: MiningConfig | None = None
        error: Exception | None = None
        try:
            parsed = config if isinstance(config, MiningConfig) else MiningConfig.from_dict(config)
        except (ValueError, TypeError) as exc:
            error = exc

        def build() -> Miner:
            if parsed is None:
                raise InvalidConfig(f"invalid mining configuration: {error}") from error
            return self.miner(parsed)

        holdout = parsed.holdout_share if parsed is not None else 0.0
        return mine_entity(self.graph, build, ref, run_id, worker, holdout_share=holdout)

    def close(self) -> None:
        self.graph.close()
