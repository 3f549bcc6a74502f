"""Celery tasks: thin shells over :mod:`mokg.pair` (the logic and its tests live there).

``mine_entity(key, run_id, config)`` mines one source. It retries, with exponential backoff and jitter and a
bounded number of attempts, on outages only (the LLM endpoint unavailable, the graph server unavailable or
transiently failing, the network); a refused request, a bad query or an invalid configuration fails the source
at once. Each failed attempt is recorded on the source (``pair_status = 'failed'``, ``pair_error``) before the
retry. Its time limits end a stuck task, recorded, before the broker would deliver its message again (the
prefork pool enforces them; solo does not).
A redelivered or duplicated message is harmless: a source done in the same run is skipped and every write
is a MERGE. The per-process runtime (graph driver, LLM client, embedder, scorer, resolution pools) is built on
first use, after any fork, and closed when the process ends.

``train_glom`` (a GLoM retrain over :func:`mokg.glom.pipeline.train`) runs on a queue of its own, ``train``.

``ingest_batch`` (``mokg stream``) writes one streamed batch and brings the graph up to date around it
(:class:`mokg.stream.runtime.StreamRuntime`), on the ``ingest`` queue; with acks_late and idempotent writes, a
worker killed mid-batch loses and doubles nothing. Past the drift threshold it enqueues ``train_glom``.

The task names (``workers.tasks.*``) are the messages' wire names, kept from before the module moved into
``mokg.apps.workers`` so that messages already queued, and workers of the previous release, still match.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import Task
from celery.signals import worker_process_init, worker_process_shutdown, worker_ready

from mokg.apps.workers.app import app
from mokg.config import get_settings
from mokg.pair.runs import RunPlan, default_config, plan_run
from mokg.pair.runtime import TRANSIENT_ERRORS, Runtime
from mokg.pair.store import SOURCE_TYPES, SourceRef
from mokg.stream.batch import Kind, WireLine

if TYPE_CHECKING:
    from mokg.stream.runtime import StreamRuntime

log = logging.getLogger(__name__)
_runtime: Runtime | None = None
_streamer: StreamRuntime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime


def streamer() -> StreamRuntime:
    global _streamer
    if _streamer is None:
        from mokg.stream.runtime import StreamRuntime  # torch and the model: only where batches arrive

        _streamer = StreamRuntime(get_settings())
    return _streamer


def warms_streamer(queues: set[str], runs_tasks: bool, enabled: bool = True) -> bool:
    """Whether a process warms the stream runtime before it takes work (``MOKG_STREAM_WARM``): it consumes
    ``ingest`` and runs the tasks itself (a solo worker, or a prefork child; not a prefork parent)."""
    return enabled and "ingest" in queues and runs_tasks


@worker_ready.connect
def _warm_streamer(sender: Any = None, **_: Any) -> None:
    # Celery logs "ready." after this returns, so a worker reported ready takes its first batch warm
    queues = {q.name for q in getattr(getattr(sender, "task_consumer", None), "queues", ())}
    solo = type(getattr(sender, "pool", None)).__module__ == "celery.concurrency.solo"
    if warms_streamer(queues, solo, get_settings().stream_warm):
        log.info("stream runtime warm in %.1f s (scorer, served model)", streamer().warm())


@worker_process_init.connect
def _warm_streamer_child(**_: Any) -> None:
    # A prefork child reports itself up, and is given tasks, only after this returns; the app's
    # worker_proc_alive_timeout leaves it the time (Celery's default 4 s would kill it mid-warm).
    queues = app.amqp.queues
    if warms_streamer(set(queues.consume_from or queues), True, get_settings().stream_warm):
        log.info("stream runtime warm in %.1f s (scorer, served model; prefork child)", streamer().warm())


@worker_process_shutdown.connect
def _close_runtime(**_: Any) -> None:
    global _runtime, _streamer
    for rt in (_runtime, _streamer):
        if rt is not None:
            rt.close()
    _runtime = _streamer = None


# Below the broker's default visibility timeout (3600 s), so that a stuck task ends, is recorded on its
# source and acknowledged before the broker delivers its message again. Enforced by the prefork pool only.
MINE_SOFT_TIME_LIMIT_S = 1800
MINE_TIME_LIMIT_S = 2400


@app.task(
    bind=True,
    name="workers.tasks.mine_entity",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=4,
    soft_time_limit=MINE_SOFT_TIME_LIMIT_S,
    time_limit=MINE_TIME_LIMIT_S,
)
def mine_entity(self: Task, key: str, run_id: str, config: dict[str, Any]) -> dict[str, Any]:
    worker = str(self.request.hostname or "")
    outcome = runtime().mine(SourceRef.parse(key), run_id, config, worker=worker)
    log.info("pair %s %s: %s, %d triples", run_id, key, outcome.status, outcome.triples)
    return outcome.as_dict()


def enqueue(plan: RunPlan) -> None:
    """One ``mine_entity`` message per source of the plan (``mokg pair run`` and the continuous mode)."""
    for ref in plan.sources:
        mine_entity.delay(str(ref), plan.run_id, plan.config.to_dict())


@app.task(name="workers.tasks.enqueue_batch", acks_late=True)
def enqueue_batch(
    limit: int = 100,
    types: list[str] | None = None,
    redo_after_days: float = 30.0,
    stale_after_s: float = 7200.0,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Continuous mode (beat): plan a run over the sources that need mining and enqueue one task each.

    ``config`` changes the default mining configuration (MiningConfig fields, e.g. ``{"n_samples": 1}``)."""
    rt = runtime()
    mining = default_config(rt.settings, **(config or {}))
    plan = plan_run(
        rt.graph,
        mining,
        types=tuple(types or SOURCE_TYPES),
        limit=limit,
        redo_after_days=redo_after_days,
        stale_after_s=stale_after_s,
    )
    enqueue(plan)
    log.info("pair continuous run %s: enqueued %d sources", plan.run_id, len(plan.sources))
    return {"run_id": plan.run_id, "enqueued": len(plan.sources)}


@app.task(name="workers.tasks.train_glom", acks_late=True)
def train_glom(config: dict[str, Any] | None = None, skip: list[str] | None = None) -> dict[str, Any]:
    """`mokg train` as a task: the same pipeline function, so a scheduler can retrain after ingestion.

    Routed to the ``train`` queue (:data:`~mokg.apps.workers.app.TRAIN_QUEUE`), never to the PAIR workers:
    only a worker started with ``mokg worker --queues train`` runs it. Nothing enqueues it yet; send it with
    ``train_glom.delay(config={...})``. Idempotent: every stage overwrites its own results (MERGE/SET), and
    the LLM profiles are cached.
    """
    from mokg.glom.data import TrainConfig
    from mokg.glom.pipeline import train
    from mokg.graph import Graph

    settings = get_settings()
    cfg = TrainConfig.from_settings(settings, **(config or {}))
    with Graph(settings) as graph:
        report = train(graph, settings, cfg, skip=tuple(skip or ()))
    return {
        "version": report.version,
        "stages": [(s.stage, round(s.seconds, 2), s.detail) for s in report.stages],
    }


@app.task(
    name="workers.tasks.ingest_batch",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
)
def ingest_batch(
    kind: Kind,
    lines: list[WireLine],
    source: str,
    stream: str,
    embed: bool = True,
    mine_new_items: bool = False,
) -> dict[str, Any]:
    """One streamed batch (``mokg stream``): ``lines`` are ``[number, text, reading error]`` of ``source``;
    with ``mine_new_items``, its items that PAIR never mined are enqueued for mining (``mine_entity``)."""
    wire = [(int(n), str(text), error) for n, text, error in lines]  # JSON brings the tuples back as lists
    outcome = streamer().apply(
        kind, wire, source=source, stream=stream, embed=embed, mine_new_items=mine_new_items
    )
    log.info(
        "stream %s lines %s: %d read, %d rejected, %d users embedded (%d new), %d without, %d items embedded, %s",
        stream,
        lines[0][0] if lines else "-",
        outcome.read,
        outcome.rejected,
        outcome.embedded,
        outcome.new_users,
        len(outcome.without_embedding),
        outcome.items_embedded,
        outcome.timing(),
    )
    if outcome.mining is not None:
        enqueue(outcome.mining)
        log.info(
            "stream: %d new items enqueued for PAIR (run %s)",
            len(outcome.mining.sources),
            outcome.mining.run_id,
        )
    if outcome.retrain is not None:
        train_glom.delay(config=outcome.retrain)
        log.info(
            "stream: %.0f%% of users embedded inductively: full retrain enqueued", 100 * (outcome.drift or 0)
        )
    return outcome.as_dict()
