"""Runs of the PAIR workers: which sources to mine, the run record, and waiting for a run to finish.

A *run* is one ``mokg pair run`` call, or one batch of the continuous mode: a ``PairRun`` node with its id,
time, source types and mining configuration, and ``pair_status = 'pending'`` plus ``pair_run`` on every
source it enqueued. The sources are marked before their messages are sent, so a message lost between the two
leaves a pending source that a later run picks up once it is stale.

Selection (continuous mode and a plain ``mokg pair run``): sources never expanded, failed by fewer than 3 runs
since they last finished (``pair_failures``), done more than ``redo_after_days`` ago (0 = never re-mine), or
pending/running for more than ``stale_after_s`` (a lost message; longer than the broker's visibility timeout,
after which the broker itself redelivers).

The continuous mode's schedule (:class:`BeatSchedule`) travels as JSON in ``MOKG_PAIR_BEAT``: ``mokg worker
--beat`` writes it from its options, and the Celery app (``mokg/apps/workers/app.py``) reads it into its beat schedule.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from typing import Any

from mokg.clock import compact, stamp, utc_now
from mokg.config import Settings
from mokg.graph import Graph
from mokg.pair import store
from mokg.pair.config import LIGHTPAIR_PASS, MiningConfig
from mokg.pair.store import SOURCE_TYPES, SourceRef
from mokg.pair.training import latest_version, scorer_root


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    sources: tuple[SourceRef, ...]
    config: MiningConfig


@dataclass(frozen=True)
class BeatSchedule:
    """Continuous mode: every ``interval_s`` seconds the beat enqueues ``mokg.apps.workers.tasks.enqueue_batch`` with
    the rest as its arguments (``config``: changes to the default MiningConfig, as JSON values)."""

    interval_s: float = 300.0
    limit: int = 100
    types: tuple[str, ...] = SOURCE_TYPES
    redo_after_days: float = 30.0
    stale_after_s: float = 7200.0
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # normalised to what JSON gives back, so that a schedule equals its own round trip
        object.__setattr__(self, "types", tuple(self.types))
        object.__setattr__(
            self, "config", {k: list(v) if isinstance(v, tuple) else v for k, v in dict(self.config).items()}
        )
        for name, value, low in (
            ("interval_s", self.interval_s, 1),
            ("limit", self.limit, 1),
            ("redo_after_days", self.redo_after_days, 0),
            ("stale_after_s", self.stale_after_s, 1),
        ):
            whole = name == "limit"
            if (
                isinstance(value, bool)
                or not isinstance(value, int if whole else (int, float))
                or value < low
            ):
                raise ValueError(
                    f"beat schedule {name}={value!r}: expected a {'whole ' if whole else ''}number >= {low}"
                )
        unknown_types = sorted(set(self.types) - set(SOURCE_TYPES))
        if not self.types or unknown_types:
            raise ValueError(f"beat schedule types={list(self.types)}: expected some of {list(SOURCE_TYPES)}")
        unknown = sorted(set(self.config) - {f.name for f in fields(MiningConfig)})
        if unknown:
            raise ValueError(f"beat schedule config: {unknown} are not MiningConfig fields")
        one_pass = LIGHTPAIR_PASS if self.config.get("miner") == "lightpair" else {}
        probe = {**MiningConfig().to_dict(), **one_pass, **self.config}
        if probe["miner"] == "lightpair" and not probe["adapter"]:
            probe["adapter"] = "newest"  # each batch takes the newest adapter (default_config)
        try:  # the values too (a relation outside the schema, n_samples 0, ...): fail at start, not per batch
            MiningConfig.from_dict(probe)
        except (TypeError, ValueError) as e:
            raise ValueError(f"beat schedule config: {e}") from e

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BeatSchedule:
        """The schedule in ``text``; empty text gives the defaults."""
        if not text.strip():
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"beat schedule: not JSON ({e})") from e
        if not isinstance(data, dict):
            raise ValueError("beat schedule: expected a JSON object")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"beat schedule: unknown fields {unknown}")
        if not isinstance(data.get("types", []), list):
            raise ValueError(f"beat schedule types={data['types']!r}: expected a list")
        if not isinstance(data.get("config", {}), dict):
            raise ValueError(f"beat schedule config={data['config']!r}: expected an object")
        return cls(**data)

    def task_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``mokg.apps.workers.tasks.enqueue_batch`` (JSON values)."""
        return {
            "limit": self.limit,
            "types": list(self.types),
            "redo_after_days": self.redo_after_days,
            "stale_after_s": self.stale_after_s,
            "config": dict(self.config),
        }


def new_run_id() -> str:
    return f"{compact()}-{uuid.uuid4().hex[:6]}"


def _iso_ago(seconds: float) -> str:
    return stamp(utc_now() - timedelta(seconds=seconds))


def default_config(settings: Settings, **changes: object) -> MiningConfig:
    """The mining configuration with ``changes`` (JSON values welcome) and the newest scorer artifact (none:
    vote share and type fit alone). ``miner="lightpair"`` also takes the one-pass settings
    (:data:`~mokg.pair.config.LIGHTPAIR_PASS`) that ``changes`` do not name, and the newest LightPAIR adapter
    unless ``adapter`` names one."""
    from mokg.pair.lightpair import check_trained_prompt, lightpair_root
    from mokg.pair.lightpair import latest_version as latest_adapter

    base = {**MiningConfig().to_dict(), "seed": settings.seed}
    base["scorer_version"] = latest_version(scorer_root(settings.home)) or ""
    if changes.get("miner") == "lightpair":
        base.update(LIGHTPAIR_PASS)
    values = {**base, **changes}
    if values["miner"] == "lightpair" and not values["adapter"]:
        values["adapter"] = latest_adapter(lightpair_root(settings.home))
        if values["adapter"] is None:
            raise ValueError("no LightPAIR adapter yet: train one with `mokg pair lightpair-train`")
    if values["miner"] == "lightpair" and values.get("source_pass"):
        check_trained_prompt(lightpair_root(settings.home) / values["adapter"])
    return MiningConfig.from_dict(values)


def plan_run(
    graph: Graph,
    config: MiningConfig,
    *,
    types: Sequence[str] = ("Item",),
    limit: int = 100,
    keys: Sequence[SourceRef] = (),
    redo_after_days: float = 0.0,
    stale_after_s: float = 7200.0,
    max_failures: int = 3,
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
            max_failures=max_failures,
        )
    run_id = new_run_id()
    kinds = sorted({ref.type for ref, _ in picked}) if keys else list(types)
    store.create_run(graph, run_id, config.to_dict(), kinds, len(picked))
    store.mark_pending(graph, [node_id for _, node_id in picked], run_id)
    return RunPlan(run_id, tuple(ref for ref, _ in picked), config)


def run_batches(
    graph: Graph,
    config: MiningConfig,
    *,
    keys: Sequence[SourceRef] = (),
    continuous: bool = False,
    max_batches: int | None = None,
    interval_s: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    **select: Any,
) -> Iterator[RunPlan]:
    """The plans of ``mokg pair run``: one run, or with ``continuous`` one every ``interval_s`` seconds until
    ``max_batches`` (None: until interrupted). The first takes ``keys`` if given, later ones follow the
    selection rule; ``select`` is :func:`plan_run`'s (types, limit, redo_after_days, stale_after_s).

    The caller dispatches each plan (enqueues or mines it) before asking for the next."""
    batches = 0
    while True:
        yield plan_run(graph, config, keys=keys, **select)
        batches += 1
        if not continuous or (max_batches is not None and batches >= max_batches):
            return
        keys = ()
        sleep(interval_s)


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
