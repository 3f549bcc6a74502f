"""What differs between Neo4j 5 and ArcadeDB over Bolt, and nothing else.

Schema DDL (``CREATE CONSTRAINT … IF NOT EXISTS``) runs unchanged on both servers, so it stays in
``cypher/schema``. What differs: how a vector index is created and named, and how element ids look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests

from mokg.config import Settings


class CypherRunner(Protocol):
    """What a dialect needs of the :class:`~mokg.graph.connection.Graph` it is given: free Cypher text."""

    def run_text(
        self, text: str, params: dict[str, Any], *, read_only: bool = False
    ) -> list[dict[str, Any]]: ...


class Dialect(Protocol):
    @property
    def name(self) -> str: ...

    def vector_index_name(self, label: str, prop: str) -> str: ...

    def create_vector_index(self, graph: CypherRunner, label: str, prop: str, dim: int) -> None:
        """Create the vector index, on ``graph``'s server and database (idempotent)."""
        ...

    def cancel_tagged(self, tag: str) -> int: ...


class ArcadeDBError(RuntimeError):
    """ArcadeDB's HTTP API refused a request."""


@dataclass(frozen=True)
class ArcadeDB:
    """ArcadeDB: vector indexes are LSM_VECTOR indexes made through SQL on the HTTP API.

    ``db.index.vector.queryNodes`` addresses them as ``Label[prop]``. Element ids look like ``#12:0``.
    """

    settings: Settings
    name: str = "arcadedb"

    def vector_index_name(self, label: str, prop: str) -> str:
        return f"{label}[{prop}]"

    def server_command(self, command: str) -> dict[str, Any]:
        """A server command (``list queries``, ``create user {...}``, ...) as the admin user."""
        s = self.settings
        r = requests.post(
            f"{s.arcadedb_http_url}/server",
            json={"command": command},
            auth=(s.graph_user, s.password()),
            timeout=30,
        )
        if r.status_code >= 400:
            raise ArcadeDBError(f"ArcadeDB HTTP {r.status_code}: {r.text[:300]}")
        result: dict[str, Any] = r.json()
        return result

    def cancel_tagged(self, tag: str) -> int:
        """Terminate this database's running statements whose text holds ``tag``; how many were."""
        listed = self.server_command(f"list queries database {self.settings.graph_database}")
        stopped = 0
        for q in listed.get("result") or []:
            if tag in str(q.get("text", "")) and not q.get("terminating"):
                try:
                    self.server_command(f"terminate query {q['id']}")
                    stopped += 1
                except ArcadeDBError:
                    pass  # it ended between the listing and the request
        return stopped

    def _sql(self, command: str) -> None:
        s = self.settings
        r = requests.post(
            f"{s.arcadedb_http_url}/command/{s.graph_database}",
            json={"language": "sql", "command": command},
            auth=(s.graph_user, s.password()),
            timeout=600,
        )
        if r.status_code >= 400:
            raise ArcadeDBError(f"ArcadeDB SQL failed ({r.status_code}): {command!r}: {r.text[:300]}")

    def create_vector_index(self, graph: CypherRunner, label: str, prop: str, dim: int) -> None:
        # through the HTTP API of the same settings (Bolt has no ArcadeDB SQL DDL); label/prop come from platform code (a fixed set), never from user input; ArcadeDB's SQL DDL
        # takes no parameters, so they are checked to be plain identifiers before use.
        for ident in (label, prop):
            if not ident.isidentifier():
                raise ValueError(f"not an identifier: {ident!r}")
        self._sql(f"CREATE PROPERTY {label}.{prop} IF NOT EXISTS ARRAY_OF_FLOATS")
        self._sql(
            f"CREATE INDEX IF NOT EXISTS ON {label} ({prop}) LSM_VECTOR "
            f"METADATA {{dimensions: {dim}, similarity: 'COSINE'}}"
        )


@dataclass(frozen=True)
class Neo4j:
    """Neo4j 5: vector indexes through Cypher DDL, named ``<label>_<prop>``; element ids ``4:…:n``."""

    settings: Settings
    name: str = "neo4j"

    def vector_index_name(self, label: str, prop: str) -> str:
        return f"{label.lower()}_{prop.lower()}"

    def create_vector_index(self, graph: CypherRunner, label: str, prop: str, dim: int) -> None:
        for ident in (label, prop):
            if not ident.isidentifier():
                raise ValueError(f"not an identifier: {ident!r}")
        # index names and labels cannot be parameters in Cypher DDL; both are checked identifiers
        text = (
            f"CREATE VECTOR INDEX {self.vector_index_name(label, prop)} IF NOT EXISTS "
            f"FOR (n:{label}) ON (n.{prop}) OPTIONS {{indexConfig: {{`vector.dimensions`: {int(dim)}, "
            f"`vector.similarity_function`: 'cosine'}}}}"
        )
        graph.run_text(text, {})

    def cancel_tagged(self, tag: str) -> int:
        # Neo4j stops a statement at its transaction timeout by itself; nothing to cancel here
        return 0


def dialect_for(settings: Settings) -> Dialect:
    return ArcadeDB(settings) if settings.graph_dialect == "arcadedb" else Neo4j(settings)
