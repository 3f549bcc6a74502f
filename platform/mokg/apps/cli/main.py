"""The `mokg` command line: the root group, the faults it turns into one line, and every command group.

Each command group is a module of this package, a thin shell over library functions.
"""

from __future__ import annotations

import errno
import logging
import re
import sys
import warnings

import click
from rich.markup import escape
from rich.table import Table

from mokg.apps.cli import (
    data,
    evaluate,
    expand,
    ingest,
    keys,
    pair,
    schema,
    serve,
    stack,
    stream,
    train,
    worker,
)
from mokg.apps.cli.output import console, out
from mokg.config import SettingsError, get_settings, shown_settings


class MokgGroup(click.Group):
    """Turns the platform's own errors into one clear line and a non-zero exit instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as e:
            message = expected_fault(e)
            if message is None:
                raise  # a bug: its traceback is what helps
            console.print(f"[red]error:[/red] {escape(message)}")
            sys.exit(1)


def expected_fault(e: Exception) -> str | None:
    """One line that says what to do, for the faults a user can cause or meet; None for a bug."""
    import neo4j.exceptions
    import requests

    from mokg.data import DataError
    from mokg.graph.arcadedb_http import ArcadeDBError
    from mokg.ingest.readers import InputFileError
    from mokg.llm.client import LLMError
    from mokg.stack import StackError

    if isinstance(e, SettingsError | DataError | InputFileError):  # InputFileError: synth's bad lines too
        return str(e)
    try:
        s = get_settings()
    except SettingsError as bad:  # a setting it cannot read: the first thing to fix
        return str(bad)
    refused = (
        f"the graph server at {s.bolt_uri} refused user {s.graph_user!r}: check MOKG_GRAPH_USER and "
        "MOKG_GRAPH_PASSWORD"
    )
    if isinstance(e, StackError):
        return refused if _refused_login(e.__cause__) else str(e)
    if isinstance(e, ArcadeDBError):
        return refused if _refused_login(e) else None
    rerun = "then re-run (ingestion and training are idempotent)"
    if isinstance(e, neo4j.exceptions.AuthError):
        return refused
    if isinstance(e, neo4j.exceptions.ServiceUnavailable | neo4j.exceptions.SessionExpired):
        return (
            f"lost the graph server at {s.bolt_uri} ({type(e).__name__}): start it (`mokg stack up`) or "
            f"check MOKG_GRAPH_URI, {rerun}"
        )
    if isinstance(e, neo4j.exceptions.ClientError) and "DatabaseNotFound" in (e.code or ""):
        return _no_database(s.graph_dialect, s.graph_database, s.bolt_uri)
    if isinstance(e, neo4j.exceptions.TransientError):
        return f"the graph server is busy ({e.code}): {rerun}"
    if isinstance(e, LLMError):  # the endpoint failed after the client's retries (down, timed out, refused)
        return (
            f"{e}: check the LLM server (`mokg stack status`, MOKG_LLM_BASE_URL), then re-run "
            "(the replies received so far are cached)"
        )
    if isinstance(e, requests.ConnectionError):
        return f"a server did not answer ({e.request.url if e.request else 'unknown address'}): is it up? (`mokg stack status`)"
    if isinstance(e, OSError) and e.errno == errno.EADDRINUSE:
        return (
            f"{e.strerror}: another process holds the port; stop it, or choose another port (`mokg settings`)"
        )
    if isinstance(e, FileNotFoundError | IsADirectoryError | PermissionError | NotADirectoryError):
        return f"{e.filename}: {e.strerror}" if e.filename else str(e)
    return None


def _refused_login(e: BaseException | None) -> bool:
    """ArcadeDB's HTTP API answered 401 or 403: the user or password is wrong."""
    return e is not None and re.match(r"ArcadeDB (HTTP |SQL failed \()40[13]\b", str(e)) is not None


def _no_database(dialect: str, database: str, uri: str) -> str:
    if dialect == "arcadedb":
        return (
            f"graph database {database!r} does not exist on {uri}: create it with `mokg schema apply` "
            "(or `mokg stack up`), or set MOKG_GRAPH_DATABASE to one that does"
        )
    return (
        f"graph database {database!r} does not exist on {uri}: create it on the server "
        f"(`CREATE DATABASE {database}`, Neo4j Enterprise), or set MOKG_GRAPH_DATABASE (Community: `neo4j`)"
    )


LIBRARY_FLOOR = {"neo4j": logging.ERROR, "torch_max_mem": logging.ERROR, "werkzeug": logging.INFO}
"""Libraries whose records pass from another level than WARNING by default: the graph driver logs each retry
of a lost connection (the one-line error after the last one is what counts), torch_max_mem each batch-size
probe; the development web server's address and request log are INFO."""


class _QuietLibraries(logging.Filter):
    """Below ``-v``, a library's records pass from WARNING up (or its ``LIBRARY_FLOOR``), whatever level the
    library set on its own logger (PyKEEN sets INFO on import, after this CLI configured logging)."""

    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        top = record.name.split(".")[0]
        if top == "mokg" or self.verbosity >= 2:
            return True
        floor = LIBRARY_FLOOR.get(top, logging.WARNING)
        return record.levelno >= (min(floor, logging.INFO) if self.verbosity else floor)


class _ConsoleHandler(logging.Handler):
    """Writes each record through the console the progress bars draw on: it prints above the bars, not
    between them, and on one line (no wrapping at the console's width)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            console.print(self.format(record), markup=False, highlight=False)
        except Exception:
            self.handleError(record)


def configure_logging(verbosity: int) -> None:
    """Log records and Python warnings go to the console above the progress bars; libraries say only
    warnings unless ``-v``."""
    handler = _ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_QuietLibraries(verbosity))
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


@click.group(cls=MokgGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mokg")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Show libraries' INFO logs (PyKEEN, the graph driver, ...) and the platform's own; -vv: DEBUG.",
)
def main(verbose: int) -> None:
    """MoKG: a marketing knowledge graph platform.

    One graph (ArcadeDB embedded, or Neo4j) holds the supply-side KG, the user–item polarity graph and
    the LLM-mined MoKG. Start with `mokg stack up`, `mokg schema apply` and `mokg ingest`. Every
    setting is an environment variable: `mokg settings` lists them.

    An expected fault (a server down, a wrong password, a missing file or database, an unknown name, a
    port in use) ends in one line saying what to do and exit status 1; a traceback means a bug.
    """
    # libraries (PyKEEN, torch_max_mem) log INFO chatter that buries our own summaries
    configure_logging(verbose)


@main.command()
def settings() -> None:
    """List every setting: environment variable, current value, meaning."""
    table = Table("variable", "value", "meaning")
    for env, value, doc in shown_settings(get_settings()):
        table.add_row(env, value, doc)
    out.print(table)


for command in (
    stack.stack,
    schema.schema,
    schema.summary,
    data.data,
    ingest.ingest,
    ingest.synth,
    stream.stream,
    train.train,
    evaluate.eval_cmd,
    expand.expand,
    serve.serve,
    keys.keys,
    pair.pair,
    worker.worker,
):
    main.add_command(command)
