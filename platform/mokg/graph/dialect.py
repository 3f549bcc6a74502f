"""What differs between Neo4j 5 and ArcadeDB over Bolt, and nothing else.

Schema DDL (``CREATE CONSTRAINT … IF NOT EXISTS``) runs unchanged on both servers, so it stays in
``cypher/schema``. What differs: how a vector index is created and named, how element ids look, and whether
a missing database is created (ArcadeDB, over its HTTP API) or refused (Neo4j).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from mokg.config import Settings, SettingsError
from mokg.graph.arcadedb_http import ArcadeDBError, ArcadeDBHttp

_DATABASE_NAME = re.compile(r"[A-Za-z0-9_-]+")


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
        """Create the vector index of ``dim`` dimensions, on ``graph``'s server and database (idempotent); one
        of another dimension (a model retrained at another ``--dim``) is dropped and made again."""
        ...

    def cancel_tagged(self, tag: str) -> int: ...

    def ensure_database(self) -> bool:
        """Create the configured database when the server lacks it and this dialect can; True if it did."""
        ...


@dataclass(frozen=True)
class ArcadeDB:
    """ArcadeDB: vector indexes are LSM_VECTOR indexes made through SQL on the HTTP API.

    ``db.index.vector.queryNodes`` addresses them as ``Label[prop]``. Element ids look like ``#12:0``.
    """

    settings: Settings
    name: str = "arcadedb"

    def vector_index_name(self, label: str, prop: str) -> str:
        return f"{label}[{prop}]"

    @property
    def http(self) -> ArcadeDBHttp:
        """The server's HTTP API, as the admin user."""
        return ArcadeDBHttp(self.settings)

    def server_command(self, command: str) -> dict[str, Any]:
        """A server command (``list queries``, ``create user {...}``, ...) as the admin user."""
        return self.http.server_command(command)

    def ensure_database(self) -> bool:
        """``create database`` over the HTTP API, unless the server lists the database already."""
        name = self.settings.graph_database
        if not _DATABASE_NAME.fullmatch(name):
            raise SettingsError(f"MOKG_GRAPH_DATABASE={name!r}: use letters, digits, '_' and '-' only")
        if name in (self.server_command("list databases").get("result") or []):
            return False
        self.server_command(f"create database {name}")
        return True

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

    def create_vector_index(self, graph: CypherRunner, label: str, prop: str, dim: int) -> None:
        # through the HTTP API of the same settings (Bolt has no ArcadeDB SQL DDL); label/prop come from platform code (a fixed set), never from user input; ArcadeDB's SQL DDL
        # takes no parameters, so they are checked to be plain identifiers before use.
        for ident in (label, prop):
            if not ident.isidentifier():
                raise ValueError(f"not an identifier: {ident!r}")
        self.http.sql(f"CREATE PROPERTY {label}.{prop} IF NOT EXISTS ARRAY_OF_FLOATS")
        # ArcadeDB refuses IF NOT EXISTS over an index of another dimension, so that index goes first;
        # made again before the new vectors land, the index takes them as they are written
        name = self.vector_index_name(label, prop)
        shown = self.http.query("SELECT indexes FROM schema:types WHERE name = :label", {"label": label})
        if any(i["name"] == name and i.get("dimensions") != int(dim) for r in shown for i in r["indexes"]):
            self.http.sql(f"DROP INDEX `{name}` IF EXISTS")
        self.http.sql(
            f"CREATE INDEX IF NOT EXISTS ON {label} ({prop}) LSM_VECTOR "
            f"METADATA {{dimensions: {int(dim)}, similarity: 'COSINE'}}"
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
        name = self.vector_index_name(label, prop)
        # IF NOT EXISTS keeps any index on (label, prop), whatever its name and dimension: one of another
        # dimension refuses every query vector, one of another name is not found by queries of ours
        shown = graph.run_text(
            "SHOW VECTOR INDEXES YIELD name, labelsOrTypes, properties, options "
            "WHERE labelsOrTypes = [$label] AND properties = [$prop] RETURN name, options",
            {"label": label, "prop": prop},
        )
        for row in shown:
            if row["name"] != name or row["options"]["indexConfig"]["vector.dimensions"] != int(dim):
                graph.run_text(f"DROP INDEX `{row['name'].replace('`', '``')}` IF EXISTS", {})
        # index names and labels cannot be parameters in Cypher DDL; both are checked identifiers
        text = (
            f"CREATE VECTOR INDEX {name} IF NOT EXISTS "
            f"FOR (n:{label}) ON (n.{prop}) OPTIONS {{indexConfig: {{`vector.dimensions`: {int(dim)}, "
            f"`vector.similarity_function`: 'cosine'}}}}"
        )
        graph.run_text(text, {})

    def cancel_tagged(self, tag: str) -> int:
        # Neo4j stops a statement at its transaction timeout by itself; nothing to cancel here
        return 0

    def ensure_database(self) -> bool:
        # Community has one database and Enterprise creates them as an admin: a missing one is refused
        # (DatabaseNotFound) with the statement that creates it, not created here
        return False


def dialect_for(settings: Settings) -> Dialect:
    return ArcadeDB(settings) if settings.graph_dialect == "arcadedb" else Neo4j(settings)
