"""`mokg data`: the real datasets the platform knows, fetched and checked into $MOKG_HOME."""

from __future__ import annotations

import click
from rich.table import Table

from mokg.apps.cli.output import out, progress_bars, progress_factory
from mokg.config import get_settings
from mokg.progress import Advance


@click.group()
def data() -> None:
    """Real datasets by name: list them, fetch them (checked against known SHA-256), find their files."""


@data.command("list")
def data_list() -> None:
    """List the known datasets, their files and whether they are in $MOKG_HOME/data."""
    from mokg.data import DATASETS, is_fetched

    s = get_settings()
    table = Table("name", "files", "MB", "fetched", "what")
    for name, d in sorted(DATASETS.items()):
        files = ", ".join(f"{f.role}: {f.name}" for f in d.files)
        table.add_row(name, files, f"{d.size / 1e6:.1f}", "yes" if is_fetched(name, s) else "", d.description)
    out.print(table)


@data.command("fetch")
@click.argument("name")
@click.option(
    "--from",
    "mirror",
    metavar="DIR|URL",
    help="A mirror instead of the origin: a folder or an http(s) URL base laid out <Category>/<file> "
    "(default: MOKG_DATA_MIRROR, else the McAuley lab's servers).",
)
def data_fetch(name: str, mirror: str | None) -> None:
    """Download a dataset into $MOKG_HOME/data/amazon/<Category>/, checking every file's SHA-256.

    A file already there with the right checksum is kept; a file with the wrong one is refused and
    nothing of it is left behind.
    """
    from mokg.data import fetch

    progress = progress_bars(in_bytes=True)
    bar = progress_factory(progress)
    shown: list[bool] = []

    def first_shows(label: str, total: int | None) -> Advance:  # no display at all when all is cached
        if not shown:
            progress.start()
            shown.append(True)
        return bar(label, total)

    try:
        done = fetch(name, settings=get_settings(), mirror=mirror, progress=first_shows)
    finally:
        if shown:
            progress.stop()
    for f in done:
        how = f"fetched from {f.source}" if f.source else "already there"
        out.print(f"{name}: {f.file.role} {f.path} ({how}, sha256 ok)")


@data.command("path")
@click.argument("name")
@click.option("--file", "role", default="reviews", show_default=True, help="Which file: reviews or meta.")
def data_path(name: str, role: str) -> None:
    """Print where a fetched dataset's file is (for scripts: `mokg ingest --reviews "$(mokg data path ...)"`)."""
    from mokg.data import DataError, is_fetched, path

    s = get_settings()
    p = path(name, s, role)
    if not is_fetched(name, s):
        raise DataError(f"{name} is not fetched yet: run `mokg data fetch {name}` (it would be {p})")
    click.echo(str(p))
