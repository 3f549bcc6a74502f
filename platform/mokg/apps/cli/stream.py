"""`mokg stream`: reviews and items into the graph through the workers, continuously."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from mokg.apps.cli.output import console, out, progress_bars
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
    default=500,
    show_default=True,
    help="Records per task at most (a batch also leaves after --max-wait): larger batches share the work "
    "of co-rated items.",
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
    batch_size: int,
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
    doubles nothing. Returns once every batch is enqueued; `mokg stream status` shows what the workers did.
    """
    from mokg.apps.workers.tasks import ingest_batch
    from mokg.ingest.readers import JsonLines, text_lines
    from mokg.stream.producer import produce

    if (reviews is None) == (meta is None):
        raise click.UsageError("give --reviews or --meta (one stream per file)")
    path = reviews or meta
    assert path is not None
    kind = "reviews" if reviews is not None else "meta"
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
    """The served model and the drift: users embedded by the last training, inductively since, and none."""
    from mokg.glom.inductive import current_version
    from mokg.glom.pipeline import artifacts
    from mokg.graph import Graph
    from mokg.stream.refresh import drift

    s = get_settings()
    with Graph(s) as g:
        d = drift(g)
    table = Table("served model", "trained", "inductive", "without", "drift", "retrain at")
    threshold = f"{s.stream_retrain_share:.0%}" if s.stream_retrain_share > 0 else "never"
    table.add_row(
        current_version(artifacts(s)) or "none (run `mokg train`)",
        f"{d.trained:,}",
        f"{d.inductive:,}",
        f"{d.without:,}",
        f"{d.share:.1%}",
        threshold,
    )
    out.print(table)
    if d.without and console.is_terminal:
        console.print(
            "users without an embedding have no review of an item the model knows, or wait for a batch"
        )
