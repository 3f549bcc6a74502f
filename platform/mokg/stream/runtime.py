"""What a streaming worker process keeps between batches, and one batch's whole effect on the graph:
write (:mod:`mokg.stream.batch`), polarity, similarity, inductive embeddings (:mod:`mokg.stream.incremental`)
and the drift check (:mod:`mokg.stream.refresh`). Every step is idempotent, so a redelivered batch repeats
work but changes nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from mokg.config import Settings
from mokg.glom.inductive import InductiveEmbedder, current_version
from mokg.glom.pipeline import artifacts
from mokg.graph import Graph
from mokg.pair.runs import BeatSchedule, RunPlan, default_config, plan_run
from mokg.pair.store import SourceRef
from mokg.polarity import make_scorer
from mokg.polarity.sentiment import SentimentScorer
from mokg.stream.batch import Kind, WireLine, rejects_path, write_batch
from mokg.stream.incremental import embed_touched, reviews_around, update_polarity, update_similarity
from mokg.stream.lock import BatchLock
from mokg.stream.refresh import drift, mark_requested, retrain_due

DRIFT_EVERY_S = 30.0
log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    read: int
    rejected: int
    reviews: int
    items: int
    users: int
    embedded: int
    new_users: int
    without_embedding: dict[str, str]
    items_embedded: int
    similar_edges: int
    version: str | None
    drift: float | None  # the inductive share, when this batch measured it (at most every DRIFT_EVERY_S)
    retrain: dict[str, Any] | None  # the config of a requested retrain, when this batch asked for one
    seconds: float
    mining: RunPlan | None = None  # the PAIR run planned over the batch's never-mined items, to enqueue
    steps: dict[str, float] = field(default_factory=dict)  # seconds of wait (the turn), write, ..., embedding
    duplicates: int = 0  # reviews repeating a key (user, item, time) of the batch: folded, the last one wins
    # item links written and listed, per type; the rest name an item not in the graph yet, and are not kept
    links: dict[str, int] = field(default_factory=dict)
    links_listed: dict[str, int] = field(default_factory=dict)

    def timing(self) -> str:
        """``1.08 s (write 0.02, polarity 0.10, ...)``: where a batch's time went, for the worker's log."""
        return f"{self.seconds:.2f} s (" + ", ".join(f"{k} {v:.2f}" for k, v in self.steps.items()) + ")"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mining"] = (
            None
            if self.mining is None
            else {
                "run_id": self.mining.run_id,
                "sources": [str(r) for r in self.mining.sources],
            }
        )
        return out


class StreamRuntime:
    """One graph driver, the sentiment scorer and the served model, reloaded when training writes a new one."""

    def __init__(self, settings: Settings, *, graph: Graph | None = None) -> None:
        self.settings = settings
        self.graph = graph or Graph(settings)
        self.turn = BatchLock(settings)
        self.folder = artifacts(settings)
        self._scorer: SentimentScorer | None = None
        self._embedder: InductiveEmbedder | None = None
        self._drift_at = -DRIFT_EVERY_S

    @property
    def scorer(self) -> SentimentScorer:
        if self._scorer is None:
            self._scorer = make_scorer(self.settings.sentiment_model)
        return self._scorer

    def embedder(self) -> InductiveEmbedder | None:
        version = current_version(self.folder)
        if self._embedder is None or self._embedder.version != version:
            self._embedder = InductiveEmbedder.load(self.folder)
        return self._embedder

    def warm(self) -> float:
        """Load the sentiment scorer and the served model (torch with it) now, not on the first batch; the
        seconds it took."""
        t0 = time.perf_counter()
        _ = self.scorer
        self.embedder()
        return time.perf_counter() - t0

    def close(self) -> None:
        self.graph.close()

    def apply(
        self,
        kind: Kind,
        lines: Sequence[WireLine],
        *,
        source: str,
        stream: str,
        embed: bool = True,
        mine_new_items: bool = False,
    ) -> BatchOutcome:
        t0 = time.perf_counter()
        steps: dict[str, float] = {}

        @contextmanager
        def step(name: str) -> Iterator[None]:
            t = time.perf_counter()
            yield
            steps[name] = time.perf_counter() - t

        first = lines[0][0] if lines else 0
        rejects = rejects_path(self.settings.home / "rejects" / "stream", stream, first)
        # from the write to the SIMILAR_TO update, one batch of this graph at a time (mokg.stream.lock)
        with self.turn.held() as waited:
            steps["wait"] = waited
            with step("write"):
                batch = write_batch(self.graph, kind, lines, source=source, rejects=rejects)
            if batch.links_unmatched:
                log.warning(
                    "stream %s lines %s: %d of %d item links name an item not in the graph yet and were not "
                    "written; send their records again once the items are in",
                    stream,
                    first,
                    batch.links_unmatched,
                    sum(batch.links_listed.values()),
                )
            with step("polarity"):
                update_polarity(self.graph, batch.reviews, self.scorer, self.settings.polarity_alpha)
            users, raters = batch.users, batch.raters
            with step("similarity"):
                # every review of the items the batch's users reviewed: the §3.4 step's input, and (read
                # once) the reviews of the batch's items for the embedding step
                around = reviews_around(self.graph, self.settings, users) if users else {}
                n_similar = update_similarity(self.graph, self.settings, users, around, raters)
        # the items reviewed or listed: new ones, and trained ones whose edges changed
        asins = sorted(raters.keys() | {i.asin for i in batch.items})
        with step("embedding"):
            report = (
                embed_touched(self.graph, self.embedder(), users, asins, around)
                if embed and (users or asins)
                else None
            )
        share, retrain = self.check_drift()
        plan = self.plan_mining(asins) if mine_new_items and asins else None
        return BatchOutcome(
            read=batch.read,
            rejected=batch.rejected,
            reviews=len(batch.reviews),
            items=len(batch.items),
            users=len(users),
            embedded=report.embedded if report else 0,
            new_users=report.new if report else 0,
            without_embedding=report.skipped if report else {},
            items_embedded=report.items_embedded if report else 0,
            similar_edges=n_similar,
            version=report.version if report else None,
            drift=share,
            retrain=retrain,
            seconds=time.perf_counter() - t0,
            mining=plan,
            steps=steps,
            duplicates=batch.duplicates,
            links=batch.links,
            links_listed=batch.links_listed,
        )

    def check_drift(self) -> tuple[float | None, dict[str, Any] | None]:
        """The drift and, past the threshold, the configuration of the retrain to request; measured at most
        every ``DRIFT_EVERY_S`` per process, since it counts every user."""
        now = time.monotonic()
        if now - self._drift_at < DRIFT_EVERY_S:
            return None, None
        self._drift_at = now
        d = drift(self.graph)
        if self._embedder is None or not retrain_due(d, self.settings.stream_retrain_share, self.folder):
            return d.share, None
        mark_requested(self.folder)
        return d.share, dict(self._embedder.state.config)

    def plan_mining(self, asins: Sequence[str]) -> RunPlan | None:
        """A PAIR run over the items PAIR never saw, with the beat's mining configuration (MOKG_PAIR_BEAT).
        Planning marks them pending, so a redelivered batch does not plan them again."""
        fresh = [r["asin"] for r in self.graph.query("stream/unmined_items", asins=list(asins))]
        if not fresh:
            return None
        config = default_config(self.settings, **BeatSchedule.from_json(self.settings.pair_beat).config)
        return plan_run(self.graph, config, keys=[SourceRef("Item", a) for a in fresh])
