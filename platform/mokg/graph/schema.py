"""`mokg schema apply`: every statement under ``cypher/schema`` — constraints and indexes, idempotent."""

from __future__ import annotations

from mokg.graph import cypher
from mokg.graph.connection import Graph


def apply_schema(graph: Graph) -> list[str]:
    """Run each schema statement (all are ``IF NOT EXISTS``); returns the names applied."""
    applied = []
    for name in cypher.names("schema"):
        graph.execute(name)
        applied.append(name)
    return applied
