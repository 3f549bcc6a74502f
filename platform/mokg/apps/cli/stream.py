"""`mokg stream`: reviews and items into the graph through the workers, continuously."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from mokg.apps.cli.options import min_buyers_option
from mokg.apps.cli.output import console, out, progress_bars, progress_factory
from mokg.clock import compact
from mokg.config import get_settings


@click.group()
def stream() -> None:
    """Continuous mode for reviews: stream records through the workers and watch the embeddings' drift."""


@stream.command("send")
@click.option(
    "--reviews", type=click.Path(path_type=Path), help="Reviews file (JSON Lines, plain or .gz); - for stdin."
)
@click.option("--meta", type=click.Path(path_type=Path), help="Item metadata file; - for stdin.")
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    help="Records per task at most [default: 5,000 reviews or 500 item records]. A batch also leaves after "
    "--max-wait, so this bounds only a backlog: larger batches share the work of co-rated items, and a "
    "backlog drains faster.",
)
@click.option(
    "--rate", type=click.FloatRange(0, min_open=True), help="Records per second (default: as fast as read)."
)
@click.option(
    "--max-wait",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Seconds a record may wait for its batch to fill before the batch is sent anyway.",
)
@click.option("--name", help="Stream name, for its rejects folder (default: <file stem>.<UTC time>).")
@click.option("--no-embed", is_flag=True, help="Write and update the graph, but embed no user.")
@click.option(
    "--mine-new-items",
    is_flag=True,
    help="Enqueue PAIR mining of every item PAIR has never mined, as batches bring them, with the beat's "
    "mining configuration (MOKG_PAIR_BEAT, as `mokg worker --beat` options set it); a PAIR worker mines them.",
)
def send(
    reviews: Path | None,
    meta: Path | None,
    batch_size: int | None,
    rate: float | None,
    max_wait: float,
    name: str | None,
    no_embed: bool,
    mine_new_items: bool,
) -> None:
    """Send records to the `ingest` queue, in batches, for `mokg worker --queues ingest` to take.

    Formats, validation and keyed writes are those of `mokg ingest`. Around each batch a worker scores its
    reviews' polarity, recomputes the SIMILAR_TO edges of the users it touched, and embeds those users with
    the model `mokg train` last wrote (no retrain; `embedding_source = 'inductive'`), so they can be
    lookalike seeds and candidates within seconds. Bad records go to
    $MOKG_HOME/rejects/stream/<name>/<first line>.rejects.jsonl with their line and reason; the rest of the
    batch lands. Delivery is at least once and every write is keyed: a worker killed mid-batch loses and
    doubles nothing. With --meta, an item link (also_buy, also_view, bought_together) is written only when
    its target item is in the graph when its batch is written; the others are counted in the task's result
    (`links` of `links_listed`) and logged, not kept: send such records again once their targets are in, or
    load a metadata file with `mokg ingest --meta`, which links items that come later in the same file.
    Returns once every batch is enqueued; `mokg stream status` shows what the workers did.
    """
    from mokg.apps.workers.tasks import ingest_batch
    from mokg.ingest.readers import JsonLines, text_lines
    from mokg.stream.producer import DEFAULT_BATCH, produce

    if (reviews is None) == (meta is None):
        raise click.UsageError("give --reviews or --meta (one stream per file)")
    path = reviews or meta
    assert path is not None
    kind = "reviews" if reviews is not None else "meta"
    batch_size = batch_size or DEFAULT_BATCH[kind]
    source = "<stdin>" if str(path) == "-" else str(path)
    name = name or f"{'stdin' if str(path) == '-' else path.name.split('.')[0]}.{compact()}"

    def send_batch(batch: list[tuple[int, str, str | None]]) -> None:
        ingest_batch.delay(kind, batch, source, name, not no_embed, mine_new_items)

    with progress_bars() as bars:
        task = bars.add_task(f"{kind} sent", total=None)
        advance = lambda n: bars.update(task, completed=n)  # noqa: E731
        if str(path) == "-":
            done = produce(
                text_lines(sys.stdin.buffer),
                send_batch,
                batch_size=batch_size,
                rate=rate,
                max_wait_s=max_wait,
                progress=advance,
            )
        else:
            with JsonLines(path) as lines:
                done = produce(
                    lines.texts(),
                    send_batch,
                    batch_size=batch_size,
                    rate=rate,
                    max_wait_s=max_wait,
                    progress=advance,
                )
    out.print(
        f"stream {name}: {done.lines:,} records in {done.batches:,} batches sent in {done.seconds:.1f} s "
        f"({done.lines / max(done.seconds, 1e-9):,.0f}/s) to the ingest queue"
    )


@stream.command("status")
def status() -> None:
    """The served model and the drift: users embedded by the last training, inductively since, and none; and
    the last `mokg stream quality` measurement of that model."""
    from mokg.glom.inductive import current_version
    from mokg.glom.pipeline import artifacts
    from mokg.graph import Graph
    from mokg.stream.quality import last
    from mokg.stream.refresh import drift

    s = get_settings()
    with Graph(s) as g:
        d = drift(g)
    version = current_version(artifacts(s))
    measured = last(artifacts(s), version)
    table = Table(
        "served model", "trained", "inductive", "without", "drift", "retrain at", "inductive / retrain AP"
    )
    threshold = f"{s.stream_retrain_share:.0%}" if s.stream_retrain_share > 0 else "never"
    table.add_row(
        version or "none (run `mokg train`)",
        f"{d.trained:,}",
        f"{d.inductive:,}",
        f"{d.without:,}",
        f"{d.share:.1%}",
        threshold,
        f"×{measured['medians']['ratio']:.3f} ({measured['tasks']} tasks, {measured['hold_share']:.0%} held back)"
        if measured
        else "not measured",
    )
    out.print(table)
    if d.without and console.is_terminal:
        console.print(
            "users without an embedding have no review of an item the model knows, or wait for a batch"
        )
    if measured is None and version is not None and console.is_terminal:
        console.print("`mokg stream quality` measures what inductive embeddings give up against a retrain")


@stream.command("quality")
@click.option(
    "--hold-share",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Share of users held back and folded in [default: MOKG_STREAM_RETRAIN_SHARE, the drift at which a "
    "retrain is asked for; 0.2 when that is 0].",
)
@click.option(
    "--tasks",
    type=click.Choice(["validation", "test", "all"]),
    default="validation",
    show_default=True,
    help="The lookalike tasks that score both models. Nothing is tuned on this figure, so `all` (more "
    "tasks) is the less noisy.",
)
@click.option(
    "--seeds", type=click.IntRange(1), default=1, show_default=True, help="Split seeds 0..N-1; medians."
)
@min_buyers_option
def quality(hold_share: float | None, tasks: str, seeds: int, min_buyers: int) -> None:
    """What inductive embeddings give up against a full retrain, on the graph's reviews.

    With the served model's configuration and the `mokg eval` protocol (held-out edges out of every fit), per
    split seed: a share of users is held back; the model is fitted once on every training review (the
    retrain) and once without the held-back users, who are then folded in from their reviews and SIMILAR_TO
    edges with no gradient step, as the streaming worker embeds a new user. Both are scored by the centroid
    of the seeds; the table gives AP over every candidate and over the held-back ones. Two trainings per
    seed, on this process's CPU. Writes INDUCTIVE_QUALITY.json beside the model, for `mokg stream status`.
    """
    import torch

    from mokg.glom.data import TrainConfig
    from mokg.glom.inductive import (
        LIGHTGCN_SUFFIX,
        PM_SUFFIX,
        ModelState,
        current_version,
        state_path,
        stored_config,
    )
    from mokg.glom.pipeline import artifacts
    from mokg.glom.stages import load_kg
    from mokg.graph import Graph
    from mokg.stream.quality import TaskSet, measure, medians, save

    s = get_settings()
    torch.set_num_threads(s.torch_threads)
    folder = artifacts(s)
    version = current_version(folder)
    if version is None or not state_path(folder, version).exists():
        raise click.ClickException("no served model to measure: run `mokg train` first")
    if version.endswith(LIGHTGCN_SUFFIX):
        raise click.ClickException(
            f"the served model {version} is LightGCN's, which has no inductive fold-in"
        )
    cfg = TrainConfig.from_settings(s, **stored_config(ModelState.load(state_path(folder, version)).config))
    share = hold_share or s.stream_retrain_share or 0.2
    with Graph(s) as g:
        kg = load_kg(g)
    task_set: TaskSet = tasks  # type: ignore[assignment]
    try:
        with progress_bars() as bars:
            rows = [
                measure(
                    kg,
                    cfg,
                    seed=seed,
                    hold_share=share,
                    tasks=task_set,
                    min_buyers=min_buyers,
                    serve_pm=version.endswith(PM_SUFFIX),
                    progress=progress_factory(bars),
                )
                for seed in range(seeds)
            ]
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    med = medians(rows)
    table = Table("candidates", "tasks", "retrain AP", "inductive AP", "inductive / retrain", title=version)
    for label, suffix, n in (("all", "", rows[0].tasks), ("held-back only", "_held", rows[0].held_tasks)):
        table.add_row(
            label,
            f"{n:,}",
            f"{med['ap_retrain' + suffix]:.4f}",
            f"{med['ap_inductive' + suffix]:.4f}",
            f"×{med['ratio' + suffix]:.3f}",
        )
    out.print(table)
    r = rows[0]
    out.print(
        f"{r.held_back:,} of {r.users:,} users held back ({share:.0%}), {task_set} tasks, "
        f"{'medians of ' + str(seeds) + ' seeds' if seeds > 1 else 'split seed 0'}; without embedding: "
        f"{', '.join(str(x.without_embedding) for x in rows)}; retrain {med['seconds_retrain']:.1f} s, "
        f"fit without them and fold in {med['seconds_partial_fit_and_fold_in']:.1f} s"
    )
    out.print(f"saved: {save(folder, version, share, task_set, rows)}")
