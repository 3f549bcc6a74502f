"""API keys for the web API: created and revoked with `mokg keys`, stored hashed in the graph.

A token reads ``mokg_<id>_<secret>``: ``id`` is 12 public hex characters (the node key), ``secret`` 32 random
bytes in URL-safe base64. Only SHA-256(secret) is stored, on ``(:ApiKey {id, hash, scopes, name,
created_at, revoked})`` through ``cypher/apikeys/*.cypher``; the token is shown once, at creation. A fast
hash is enough because the secret has 256 bits of entropy (nothing to brute-force), and it keeps
verification cheap; the comparison is constant-time.

Why the graph and not a file under MOKG_HOME: every gunicorn worker and every API host must see a revocation,
and the graph is the one store they all share (ArcadeDB here, Neo4j in production). Verified keys are cached
per process for ``ttl_s`` seconds, so a request costs no extra round trip and a revocation takes effect
everywhere within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mokg.clock import stamp
from mokg.graph import Graph

SCOPES = ("lookup", "analyst")
_TOKEN = re.compile(r"^mokg_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
# compared against when the id is unknown, so a miss costs the same as a wrong secret
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class ApiKeyError(ValueError):
    """A key operation that cannot be done (unknown scope, unknown key)."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    scopes: tuple[str, ...]
    name: str
    created_at: str
    revoked: bool


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    # the only time the token exists outside its holder's hands
    token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    out = tuple(sorted(set(scopes)))
    bad = [s for s in out if s not in SCOPES]
    if bad or not out:
        raise ApiKeyError(
            f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {', '.join(bad) or 'none'}"
        )
    return out


def create_key(graph: Graph, scopes: Iterable[str], *, name: str = "") -> NewKey:
    """Create a key with these scopes; the returned token is not stored anywhere."""
    checked = _check_scopes(scopes)
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    created = stamp()
    graph.execute(
        "apikeys/create",
        id=key_id,
        hash=_hash(secret),
        scopes=list(checked),
        key_name=name,
        created_at=created,
    )
    return NewKey(ApiKey(key_id, checked, name, created, False), f"mokg_{key_id}_{secret}")


def revoke_key(graph: Graph, key_id: str) -> None:
    rows = graph.execute("apikeys/revoke", id=key_id, at=stamp())
    if not rows or not rows[0]["n"]:
        raise ApiKeyError(f"no API key with id {key_id!r}")


def list_keys(graph: Graph) -> list[ApiKey]:
    return [
        ApiKey(
            str(r["id"]),
            tuple(r["scopes"] or ()),
            str(r["name"] or ""),
            str(r["created_at"]),
            bool(r["revoked"]),
        )
        for r in graph.query("apikeys/list")
    ]


def verify(graph: Graph, token: str) -> ApiKey | None:
    """The live key a token belongs to, or ``None`` (malformed, unknown, wrong secret or revoked)."""
    m = _TOKEN.match(token)
    if not m:
        return None
    rows = graph.query("apikeys/find", id=m["id"])
    stored = str(rows[0]["hash"]) if rows else _DUMMY_HASH
    if not hmac.compare_digest(_hash(m["secret"]), stored) or not rows or rows[0]["revoked"]:
        return None
    r = rows[0]
    return ApiKey(str(r["id"]), tuple(r["scopes"] or ()), str(r["name"] or ""), str(r["created_at"]), False)


class KeyCache:
    """Per-process cache of verified tokens (by their SHA-256), for ``ttl_s`` seconds; misses are not cached."""

    def __init__(self, graph: Graph, *, ttl_s: float = 30.0) -> None:
        self.graph = graph
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, ApiKey]] = {}

    def verify(self, token: str) -> ApiKey | None:
        digest = _hash(token)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(digest)
        if hit and now - hit[0] < self.ttl_s:
            return hit[1]
        key = verify(self.graph, token)
        with self._lock:
            if key is None:
                self._entries.pop(digest, None)
            elif self.ttl_s > 0:
                self._entries[digest] = (now, key)
        return key
