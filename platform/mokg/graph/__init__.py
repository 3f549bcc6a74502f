"""Graph access: one connection class, named Cypher statements, the dialect, the schema."""

from mokg.graph.connection import BatchStats, Graph, batched

__all__ = ["BatchStats", "Graph", "batched"]
