"""`mokg ingest` and `mokg synth`: real data into the graph, synthetic data into files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mokg.apps.cli.options import out_dir_option
from mokg.apps.cli.output import console, out, progress_bars, progress_factory
from mokg.clock import compact
from mokg.config import get_settings

EXIT_REJECTS = 3


@click.command()
@click.option("--reviews", type=click.Path(path_type=Path), help="Reviews file (JSON Lines, plain or .gz).")
@click.option(
    "--meta", type=click.Path(path_type=Path), help="Item metadata file (JSON Lines, plain or .gz)."
)
@click.option(
    "--rejects",
    type=click.Path(path_type=Path),
    help="Where bad records go (default: $MOKG_HOME/rejects/<reviews or meta file>.<UTC time>.rejects.jsonl, "
    "one per run; written only when a record is rejected).",
)
@click.option("--batch-size", type=click.IntRange(1), help="Rows per transaction (default: MOKG_BATCH_SIZE).")
def ingest(reviews: Path | None, meta: Path | None, rejects: Path | None, batch_size: int | None) -> None:
    """Stream Amazon reviews and item metadata into the graph.

    Reads the Amazon Reviews 2023 JSONL format and the 2018 / 2014 5-core JSON formats, plain or gzip,
    in constant memory. Idempotent: every write is keyed (users, items, stores and categories are MERGEd on
    their key; a review edge, keyed by user, item and time, is created only where no edge has that key and
    otherwise updated), so a second run changes nothing and a run that was interrupted is repaired by running
    it again. Bad records (malformed JSON, a missing key, a wrong type, a rating outside 1..5, a number that
    is not finite or not storable) go to the rejects file with their line number and reason; the good ones
    still land. Every record is counted: read = written + rejected (a review repeating another's user, item
    and time is written onto the same edge; the last one wins).

    Exit status: 0 clean, 3 finished with rejects, 1 a file is missing, empty, a directory or corrupt,
    or the graph server is unreachable (the message says what to do).
    """
    from mokg.graph import Graph
    from mokg.ingest import InputFileError
    from mokg.ingest import ingest as run_ingest

    if reviews is None and meta is None:
        raise click.UsageError("give --reviews, --meta, or both")
    s = get_settings()
    stem = (reviews or meta or Path("input")).name.split(".")[0]
    # one file per run, so a clean re-run never sits beside an earlier run's rejects
    rejects = rejects or s.home / "rejects" / f"{stem}.{compact()}.rejects.jsonl"
    try:
        with Graph(s) as g, progress_bars(in_bytes=True) as progress:
            report = run_ingest(
                g,
                reviews=reviews,
                meta=meta,
                rejects_path=rejects,
                batch_size=batch_size,
                progress=progress_factory(progress),
            )
    except InputFileError as e:
        console.print(f"[red]error:[/red] {e}")
        sys.exit(1)
    out.print(f"ingest: {report.summary()}")
    if report.rejected:
        sys.exit(EXIT_REJECTS)


@click.command()
@click.option(
    "--users", "n_users", type=click.IntRange(1), required=True, help="Synthetic users to generate."
)
@click.option(
    "--items", "n_items", type=click.IntRange(5), required=True, help="Synthetic items to generate."
)
@click.option(
    "--from-reviews",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=Path("../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz"),
    show_default=True,
    help="Real reviews file whose distributions are fitted.",
)
@click.option(
    "--from-meta",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("../shared/data/amazon/Gift_Cards/meta_Gift_Cards.json.gz"),
    show_default=True,
    help="Real metadata file (brands, category paths, link counts); pass '' when the set has none.",
)
@out_dir_option("Output folder (default: $MOKG_HOME/synthetic).")
@click.option("--seed", type=int, help="Random seed (default: MOKG_SEED).")
def synth(
    n_users: int, n_items: int, from_reviews: Path, from_meta: Path, out_dir: Path | None, seed: int | None
) -> None:
    """Generate SYNTHETIC Amazon-format files of any size, fitted to a real set, for benchmarks.

    Item popularity, user activity, ratings, review text (sampled from real reviews), and the brand and
    category structure follow the real set. Every file is named SYNTHETIC_*, every record carries
    "synthetic": true, and ids start with SYN-. Quality claims use real data only.
    """
    from mokg.synth import synthesize

    s = get_settings()
    meta = from_meta if str(from_meta) not in ("", ".") else None
    if meta is not None and not meta.is_file():
        raise click.BadParameter(f"{meta}: no such file", param_hint="--from-meta")
    with progress_bars() as bars:
        report = synthesize(
            from_reviews,
            meta,
            out_dir or s.home / "synthetic",
            n_users=n_users,
            n_items=n_items,
            seed=s.seed if seed is None else seed,
            progress=progress_factory(bars)("synth reviews", None),
        )
    out.print(
        f"synth: {report.n_users:,} users, {report.n_items:,} items, {report.n_reviews:,} reviews "
        f"in {report.seconds:.1f} s -> {report.reviews_path} and {report.meta_path}"
    )
