"""The web service's handles on the library, one set per process, in the way of Flask's flaskr ``db.py``.

:func:`init_app` attaches a :class:`Services` to the app; :func:`get_services` returns the current app's.
The graph driver is created on first use, so a pre-forking server never shares a driver across workers; the
API-key cache, the seed-embedding cache and the analyst runner hang off the same object.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from flask import Flask, current_app

from mokg.analyst import ReadOnlyRunner
from mokg.apikeys import KeyCache
from mokg.config import Settings
from mokg.graph import Graph
from mokg.lookalike.audience import SeedCache

EXTENSION = "mokg"
# a short retry budget: past it the client gets 503 with Retry-After, not a 30 s wait
WEB_RETRY_S = 3.0


@dataclass
class Services:
    settings: Settings
    key_ttl_s: float = 30.0
    cypher_timeout_s: float = 10.0
    web_threads: int = 0  # this process's request threads, where the server says (gunicorn); else the setting

    @cached_property
    def graph(self) -> Graph:
        return Graph(self.settings, max_retry_s=WEB_RETRY_S)

    @cached_property
    def keys(self) -> KeyCache:
        return KeyCache(self.graph, ttl_s=self.key_ttl_s)

    @cached_property
    def seed_cache(self) -> SeedCache | None:
        size = self.settings.web_seed_cache
        return SeedCache(size, ttl_s=self.settings.web_seed_ttl_s) if size > 0 else None

    @cached_property
    def analyst(self) -> ReadOnlyRunner:
        s = self.settings
        # half the threads may hold a paced refusal: the rest keep serving lookups whatever analysts send
        threads = self.web_threads or s.web_threads
        return ReadOnlyRunner(s, refusal_delay_s=s.analyst_refusal_delay_s, paced_refusals=threads // 2)

    def close(self) -> None:
        if "graph" in self.__dict__:
            self.graph.close()


def get_services() -> Services:
    """The services of the app handling the current request."""
    s: Services = current_app.extensions[EXTENSION]
    return s


def set_threads(app: Flask, threads: int) -> None:
    """Tell ``app``'s services how many request threads its process has (before its first request)."""
    svc: Services = app.extensions[EXTENSION]
    svc.web_threads = threads


def init_app(
    app: Flask, settings: Settings, *, key_ttl_s: float = 30.0, cypher_timeout_s: float = 10.0
) -> Services:
    """Attach one :class:`Services` for these settings to ``app``."""
    svc = Services(settings, key_ttl_s=key_ttl_s, cypher_timeout_s=cypher_timeout_s)
    app.extensions[EXTENSION] = svc
    return svc
