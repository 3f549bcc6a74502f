"""`mokg stack`: the embedded servers."""

from __future__ import annotations

import sys

import click

from mokg.apps.cli.output import console, out
from mokg.config import get_settings


@click.group()
def stack() -> None:
    """Start, stop and check the embedded servers (ArcadeDB, Valkey, llama.cpp) on loopback."""


_ONLY = click.option(
    "--only",
    type=click.Choice(["graph", "broker", "llm"]),
    multiple=True,
    help="Limit to these components (repeatable). Default: all.",
)


@stack.command("up")
@_ONLY
def stack_up(only: tuple[str, ...]) -> None:
    """Start the embedded servers (idempotent: running ones are left as they are).

    A component whose setting points elsewhere (MOKG_GRAPH_URI, MOKG_BROKER_URL, MOKG_LLM_BASE_URL) is
    not started: production uses Neo4j, Redis and vLLM from compose.yaml.
    """
    from mokg.stack import COMPONENTS, up

    s = get_settings()
    with console.status("starting the stack…"):
        for line in up(s, only or COMPONENTS):
            out.print(line)
    out.print(f"home: {s.home}   graph: {s.bolt_uri}   broker: redis://127.0.0.1:{s.valkey_port}")


@stack.command("down")
@_ONLY
def stack_down(only: tuple[str, ...]) -> None:
    """Stop the servers that `mokg stack up` started, and nothing else."""
    from mokg.stack import COMPONENTS, down

    for line in down(get_settings(), only or COMPONENTS):
        out.print(line)


@stack.command("status")
def stack_status_cmd() -> None:
    """Show each embedded server: running, healthy, port, pid. Exit status 1 if any is not healthy."""
    from mokg.stack import stack_status

    statuses = stack_status(get_settings())
    for st in statuses:
        out.print(st.line())
    if not statuses:
        out.print("no embedded servers are configured (all components point at external servers)")
    sys.exit(0 if all(st.healthy for st in statuses) else 1)


# -- schema -----------------------------------------------------------------------------------------
