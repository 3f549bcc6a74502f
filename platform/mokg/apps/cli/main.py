"""The `mokg` command line: the root group, the faults it turns into one line, and every command group.

Each command group is a module of this package, a thin shell over library functions.
"""

from __future__ import annotations

import logging
import sys
import warnings

import click
from rich.table import Table

from mokg.apps.cli import evaluate, expand, ingest, keys, pair, schema, serve, stack, train, worker
from mokg.apps.cli.output import console, out
from mokg.config import SettingsError, get_settings, settings_doc


class MokgGroup(click.Group):
    """Turns the platform's own errors into one clear line and a non-zero exit instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from mokg.stack import StackError

        try:
            return super().invoke(ctx)
        except (SettingsError, StackError, FileNotFoundError) as e:
            console.print(f"[red]error:[/red] {e}")
            sys.exit(1)
        except Exception as e:
            message = expected_fault(e)
            if message is None:
                raise
            console.print(f"[red]error:[/red] {message}")
            sys.exit(1)


def expected_fault(e: Exception) -> str | None:
    """One line that says what to do, for the faults a user can cause or meet; None for a bug."""
    import neo4j.exceptions
    import requests

    s = get_settings()
    rerun = "then re-run (ingestion and training are idempotent)"
    if isinstance(e, neo4j.exceptions.AuthError):
        return f"the graph server at {s.bolt_uri} refused user {s.graph_user!r}: check MOKG_GRAPH_USER and MOKG_GRAPH_PASSWORD"
    if isinstance(e, neo4j.exceptions.ServiceUnavailable | neo4j.exceptions.SessionExpired):
        return (
            f"lost the graph server at {s.bolt_uri} ({type(e).__name__}): start it (`mokg stack up`), {rerun}"
        )
    if isinstance(e, neo4j.exceptions.ClientError) and "DatabaseNotFound" in (e.code or ""):
        return (
            f"graph database {s.graph_database!r} does not exist: create it with `mokg stack up` "
            "(embedded ArcadeDB) or on your server, or set MOKG_GRAPH_DATABASE"
        )
    if isinstance(e, neo4j.exceptions.TransientError):
        return f"the graph server is busy ({e.code}): {rerun}"
    if isinstance(e, requests.ConnectionError):
        return f"a server did not answer ({e.request.url if e.request else 'unknown address'}): is it up? (`mokg stack status`)"
    if isinstance(e, IsADirectoryError | PermissionError | NotADirectoryError):
        return f"{e.filename}: {e.strerror}"
    return None


@click.group(cls=MokgGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mokg")
def main() -> None:
    """MoKG: a marketing knowledge graph platform.

    One graph (ArcadeDB embedded, or Neo4j) holds the supply-side KG, the user–item polarity graph and
    the LLM-mined MoKG. Start with `mokg stack up`, `mokg schema apply` and `mokg ingest`. Every
    setting is an environment variable: `mokg settings` lists them.
    """
    # libraries (PyKEEN, torch_max_mem) log INFO chatter that buries our own summaries
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("torch_max_mem").setLevel(logging.ERROR)
    logging.getLogger("pykeen").setLevel(logging.WARNING)
    # the driver logs each retry of a lost connection; the one-line error after the last one is what counts
    logging.getLogger("neo4j").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


@main.command()
def settings() -> None:
    """List every setting: environment variable, current value, meaning."""
    current = get_settings()
    table = Table("variable", "value", "meaning")
    for env, _default, doc in settings_doc():
        field_name = env.removeprefix("MOKG_").lower()
        value = str(getattr(current, field_name, ""))
        if "PASSWORD" in env or "API_KEY" in env:
            value = "***" if value not in ("", "none") else value
        table.add_row(env, value, doc)
    out.print(table)


for command in (
    stack.stack,
    schema.schema,
    schema.summary,
    ingest.ingest,
    ingest.synth,
    train.train,
    evaluate.eval_cmd,
    expand.expand,
    serve.serve,
    keys.keys,
    pair.pair,
    worker.worker,
):
    main.add_command(command)
