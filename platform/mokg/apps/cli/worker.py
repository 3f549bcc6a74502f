"""`mokg worker`: a Celery worker of the PAIR tasks (or of GLoM retraining), and the continuous mode's beat."""

from __future__ import annotations

import sys

import click

from mokg.apps.cli.options import batch_options, mining_changes, mining_options, refuse_without


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--pool",
    # no "threads": a process's PAIR runtime (embedding cache, pools) is not shared between threads
    type=click.Choice(["solo", "prefork"]),
    help="Execution pool (default: solo for one process, prefork for more).",
)
@click.option(
    "--queues",
    "-Q",
    metavar="QUEUES",
    help="Comma-separated queues to consume: pair (the PAIR tasks, the default), train (train_glom), ingest "
    "(streamed batches of `mokg stream send`).",
)
@click.option(
    "--beat",
    is_flag=True,
    help="Also run the continuous-mode schedule (one worker only), set by the options that follow.",
)
@click.option("--loglevel", default="info", show_default=True)
@click.option(
    "--visibility-timeout",
    type=click.FloatRange(1),
    help="Seconds before an unacknowledged message is redelivered (default 3600).",
)
@batch_options(when="With --beat: ", default_types="all", redo_after_days=30.0)
@mining_options
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def worker(
    ctx: click.Context,
    concurrency: int,
    pool: str | None,
    queues: str | None,
    beat: bool,
    loglevel: str,
    visibility_timeout: float | None,
    interval: float,
    limit: int,
    types: tuple[str, ...],
    redo_after_days: float,
    celery_args: tuple[str, ...],
    **mining: object,
) -> None:
    """Start a Celery worker for the PAIR tasks (`celery -A mokg.apps.workers.app worker` with these
    options).

    It consumes the `pair` queue, or the --queues given: `mokg worker --queues train` runs GLoM retraining
    (the `train_glom` task, routed to `train` so that it never occupies a PAIR worker); give such a worker a
    --visibility-timeout above the longest training.

    With --beat the worker also runs the continuous mode: every --interval seconds it enqueues a batch of up
    to --limit sources of the --type(s) that were never expanded, failed, or were expanded more than
    --redo-after-days ago, mined with the mining options (--n-samples, --relation, --no-scorer, ... as in
    `mokg pair run`). These options go with --beat only; they reach the worker as MOKG_PAIR_BEAT (JSON).

    Extra arguments go to Celery unchanged. The process becomes the Celery worker (exec), so signals reach
    it directly.
    """
    import json
    import os

    if not beat:
        beat_only = {"interval", "limit", "types", "redo_after_days", *mining}
        refuse_without(ctx, "--beat", beat_only, "it sets the continuous mode")
    else:
        from mokg.pair.runs import BeatSchedule
        from mokg.pair.store import SOURCE_TYPES

        try:
            schedule = BeatSchedule(
                interval_s=interval,
                limit=limit,
                types=types or SOURCE_TYPES,
                redo_after_days=redo_after_days,
                config=mining_changes(mining),
            )
        except ValueError as e:
            raise click.UsageError(str(e)) from e
        os.environ["MOKG_PAIR_BEAT"] = schedule.to_json()  # the exec'd worker's settings read it

    chosen = [q.strip() for q in (queues or "").split(",") if q.strip()]
    if queues is not None:
        from mokg.apps.workers.app import QUEUES

        unknown = [q for q in chosen if q not in QUEUES]
        if unknown or not chosen:
            raise click.BadParameter(
                f"{queues!r}: expected a comma-separated list of {', '.join(QUEUES)}", param_hint="--queues"
            )

    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "mokg.apps.workers.app",
        "worker",
        f"--concurrency={concurrency}",
    ]
    argv += [f"--pool={pool or ('solo' if concurrency == 1 else 'prefork')}", f"--loglevel={loglevel}"]
    argv += ["--beat"] if beat else []
    argv += ["-Q", ",".join(chosen)] if chosen else []
    argv += list(celery_args)
    if visibility_timeout is not None:
        from mokg.apps.workers.app import transport_options

        # Celery's command-line configuration (after `--`) overrides the app's setting
        argv += ["--", f"broker.transport_options=(json){json.dumps(transport_options(visibility_timeout))}"]
    sys.stdout.flush()
    os.execv(sys.executable, argv)
