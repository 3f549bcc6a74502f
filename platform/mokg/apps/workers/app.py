"""The Celery app of the PAIR workers, configured from the platform settings.

Reliability comes from the combination, not from any one option:

* ``task_acks_late`` — a message is acknowledged after its task returns, so a worker that dies mid-task
  leaves it unacknowledged and the broker delivers it again; ``task_reject_on_worker_lost`` does the same for
  a prefork child killed under a live parent (Celery's default would acknowledge and lose it). A message that
  kills its worker every time is not delivered forever: the claim gives up on a source delivered
  ``MAX_DELIVERIES`` (8) times in one run, marks it failed and lets the message be acknowledged.
* With Redis/Valkey an unacknowledged message comes back after the transport's ``visibility_timeout``
  (1 hour by default here, longer than any mining task). ``mokg worker --visibility-timeout S`` shortens it
  (tests use seconds); a redelivery that overlaps a live task only repeats idempotent work.
* ``worker_prefetch_multiplier = 1`` — a worker reserves one message at a time, so a lost worker strands at
  most one message per process, and long tasks do not queue up behind each other.
* The tasks are idempotent (MERGE on stable keys, and a source done in this run is skipped), which is what
  turns at-least-once delivery into exactly-once effects.

Continuous mode: the beat schedule (run a worker with ``mokg worker --beat``) enqueues a batch of sources that
were never expanded, failed, or were expanded before the cut-off, every ``interval_s`` seconds. The schedule is
a :class:`~mokg.pair.runs.BeatSchedule` (interval, batch limit, source types, cut-offs, mining changes) read
from ``MOKG_PAIR_BEAT``, which the options of ``mokg worker --beat`` write; empty means its defaults.

Queues: the PAIR tasks go to ``pair``, the default queue, which a worker started without ``--queues``
consumes. ``train_glom`` is routed to ``train``, so a retrain never takes a PAIR worker's slot (nor waits
behind a backlog of mining tasks); only a worker started with ``mokg worker --queues train`` runs it. A retrain
may run longer than the visibility timeout: give that worker a ``--visibility-timeout`` above the longest
training, or the message is delivered again while the first run goes on. ``ingest_batch`` (``mokg stream``)
is routed to ``ingest``: a worker started with ``mokg worker --queues ingest`` writes each batch and updates
polarity, similarity and the touched users' embeddings around it. Its process (a solo worker, or each
prefork child) loads the stream runtime before it takes a batch (``MOKG_STREAM_WARM``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from mokg.config import Settings, get_settings
from mokg.pair.runs import BeatSchedule

QUEUE = "pair"  # the PAIR tasks (mine_entity, enqueue_batch): the default queue
TRAIN_QUEUE = "train"  # GLoM retraining (train_glom)
INGEST_QUEUE = "ingest"  # streamed review and item batches (ingest_batch)
# how long a prefork child may take to start: an ingest child loads torch, the sentiment scorer and the
# served model first (5-7 s on 2 busy cores), where Celery's 4 s default would kill it and start another
CHILD_START_S = 120.0
QUEUES = (QUEUE, TRAIN_QUEUE, INGEST_QUEUE)
ROUTES = {
    "workers.tasks.train_glom": {"queue": TRAIN_QUEUE},
    "workers.tasks.ingest_batch": {"queue": INGEST_QUEUE},
}


def transport_options(visibility_timeout_s: float = 3600.0) -> dict[str, Any]:
    # restore sweeps every 10 s (throttle 1): a redelivered message waits for the visibility timeout, not longer
    return {
        "visibility_timeout": visibility_timeout_s,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }


def make_app(
    settings: Settings | None = None,
    *,
    visibility_timeout_s: float = 3600.0,
    beat: BeatSchedule | None = None,
) -> Celery:
    s = settings or get_settings()
    schedule = beat or BeatSchedule.from_json(s.pair_beat)
    app = Celery("mokg", broker=s.broker(), include=["mokg.apps.workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_proc_alive_timeout=CHILD_START_S,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_routes=ROUTES,
        broker_transport_options=transport_options(visibility_timeout_s),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
        timezone="UTC",
        beat_schedule_filename=str(s.home / "celerybeat-schedule"),
        beat_schedule={
            "pair-continuous": {
                "task": "workers.tasks.enqueue_batch",
                "schedule": schedule.interval_s,
                "kwargs": schedule.task_kwargs(),
            }
        },
    )
    return app


app = make_app()
