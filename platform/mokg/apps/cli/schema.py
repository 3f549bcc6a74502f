"""`mokg schema` and `mokg summary`: the graph's schema and what it holds."""

from __future__ import annotations

import click
from rich.table import Table

from mokg.apps.cli.output import out


@click.group()
def schema() -> None:
    """The graph schema: constraints and indexes from cypher/schema."""


@schema.command("apply")
def schema_apply() -> None:
    """Create every constraint and index (idempotent: safe to run again).

    On ArcadeDB a database MOKG_GRAPH_DATABASE names that does not exist yet is created first; Neo4j
    refuses it with the statement that creates it.
    """
    from mokg.graph import Graph
    from mokg.graph.schema import apply_schema

    with Graph() as g:
        g.ping()  # a server that is down or refuses the login fails here, before any other request
        if g.dialect.ensure_database():
            out.print(f"schema: created database {g.settings.graph_database!r}")
        names = apply_schema(g)
    out.print(f"schema: {len(names)} statements applied ({', '.join(n.split('/')[-1] for n in names)})")


@click.command()
def summary() -> None:
    """Show what is in the graph: nodes per label and relationships per type."""
    from mokg.graph import Graph

    with Graph() as g:
        nodes = g.query("analyst/node_counts")
        rels = g.query("analyst/relationship_counts")
    table = Table("kind", "name", "count")
    for r in nodes:
        table.add_row("node", str(r["label"]), f"{r['n']:,}")
    for r in rels:
        table.add_row("relationship", str(r["type"]), f"{r['n']:,}")
    out.print(table)
