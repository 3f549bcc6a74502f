"""The one client of ArcadeDB's HTTP API: server commands, SQL, readiness and a log-in probe.

Cypher goes over Bolt; what Bolt cannot carry goes here: the SQL DDL of vector indexes, and server commands
(``create database``, ``list queries``, ``terminate query``, ``create user``). The API's address is
:attr:`Settings.arcadedb_http_url <mokg.config.Settings.arcadedb_http_url>`: the host of the configured Bolt
URI (``MOKG_GRAPH_URI``; loopback for the embedded server) at ``MOKG_ARCADEDB_HTTP_PORT``, so a remote
ArcadeDB is reached as well as the embedded one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from mokg.config import Settings


class ArcadeDBError(RuntimeError):
    """ArcadeDB's HTTP API refused a request."""


@dataclass(frozen=True)
class ArcadeDBHttp:
    """Requests to the server and database of ``settings``, as ``auth`` (default: the graph user and its
    password, read when a request is made)."""

    settings: Settings
    auth: tuple[str, str] | None = None

    @property
    def url(self) -> str:
        return self.settings.arcadedb_http_url

    def _auth(self) -> tuple[str, str]:
        return self.auth or (self.settings.graph_user, self.settings.password())

    def server_command(self, command: str) -> dict[str, Any]:
        """A server command (``list queries``, ``create user {...}``, ...); its JSON answer."""
        r = requests.post(f"{self.url}/server", json={"command": command}, auth=self._auth(), timeout=30)
        if r.status_code >= 400:
            raise ArcadeDBError(f"ArcadeDB HTTP {r.status_code}: {r.text[:300]}")
        result: dict[str, Any] = r.json()
        return result

    def sql(self, command: str) -> None:
        """Run a SQL command (DDL) on the configured database."""
        self._database("command", command, {})

    def query(self, command: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a read-only SQL query (``:name`` parameters) on the configured database."""
        rows: list[dict[str, Any]] = self._database("query", command, params).get("result") or []
        return rows

    def _database(self, endpoint: str, command: str, params: dict[str, Any]) -> dict[str, Any]:
        r = requests.post(
            f"{self.url}/{endpoint}/{self.settings.graph_database}",
            json={"language": "sql", "command": command, "params": params},
            auth=self._auth(),
            timeout=600,
        )
        if r.status_code >= 400:
            raise ArcadeDBError(f"ArcadeDB SQL failed ({r.status_code}): {command!r}: {r.text[:300]}")
        answer: dict[str, Any] = r.json()
        return answer

    def ready(self) -> bool:
        """The server answers ``/ready`` (a connection error propagates)."""
        return requests.get(f"{self.url}/ready", timeout=2).status_code < 300

    def accepts_login(self) -> bool:
        """The server accepts this client's user and password."""
        return requests.get(f"{self.url}/databases", auth=self._auth(), timeout=10).status_code == 200
