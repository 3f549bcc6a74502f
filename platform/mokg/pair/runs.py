"""Runs of the PAIR workers: which sources to mine, the run record, and waiting for a run to finish.

A *run* is one ``mokg pair run`` call, or one batch of the continuous mode: a ``PairRun`` node with its id,
time, source types and mining configuration, and ``pair_status = 'pending'`` plus ``pair_run`` on every
source it enqueued. The sources are marked before their messages are sent, so a message lost between the two
leaves a pending source that a later run picks up once it is stale.

Selection (continuous mode and a plain ``mokg pair run``): sources never expanded, failed with attempts left,
done more than ``redo_after_days`` ago (0 = never re-mine), or pending/running for more than ``stale_after_s``
(a lost message; longer than the broker's visibility timeout, after which the broker itself redelivers).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mokg.config import Settings
from mokg.graph import Graph
from mokg.pair import store
from mokg.pair.mining import MiningConfig
from mokg.pair.store import SourceRef
from mokg.pair.training import latest_version, scorer_root


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    sources: tuple[SourceRef, ...]
    config: MiningConfig


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def _iso_ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_config(settings: Settings, **changes: object) -> MiningConfig:
    """The mining configuration with the newest scorer artifact (none: vote share and type fit alone)."""
    version = latest_version(scorer_root(settings.home)) or ""
    return MiningConfig(seed=settings.seed, scorer_version=version).with_(**changes)


def plan_run(
    graph: Graph,
    config: MiningConfig,
    *,
    types: Sequence[str] = ("Item",),
    limit: int = 100,
    keys: Sequence[SourceRef] = (),
    redo_after_days: float = 0.0,
    stale_after_s: float = 7200.0,
    max_attempts: int = 3,
) -> RunPlan:
    """Choose the sources (``keys`` if given, else the selection rule), record the run, mark them pending."""
    if keys:
        picked = []
        for ref in keys:
            source = store.fetch_source(graph, ref)
            if source is None:
                raise KeyError(f"no source {ref} in the graph")
            picked.append((ref, source.node_id))
    else:
        picked = store.select_sources(
            graph,
            types,
            limit,
            redo_before=_iso_ago(redo_after_days * 86400) if redo_after_days > 0 else "",
            stale_before=_iso_ago(stale_after_s),
            max_attempts=max_attempts,
        )
    run_id = new_run_id()
    kinds = sorted({ref.type for ref, _ in picked}) if keys else list(types)
    store.create_run(graph, run_id, config.to_dict(), kinds, len(picked))
    store.mark_pending(graph, [node_id for _, node_id in picked], run_id)
    return RunPlan(run_id, tuple(ref for ref, _ in picked), config)


def wait_for_run(
    graph: Graph,
    run_id: str,
    *,
    timeout_s: float = 3600.0,
    poll_s: float = 2.0,
    progress: Callable[[dict[str, int]], None] | None = None,
) -> dict[str, int]:
    """Poll until no source of the run is pending or running (or the timeout); returns counts per status.

    A failed source whose task still has retries left counts as finished here: its retry runs later."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = store.run_counts(graph, run_id)
        if progress is not None:
            progress(counts)
        if counts["pending"] + counts["running"] == 0 or time.monotonic() > deadline:
            return counts
        time.sleep(poll_s)
