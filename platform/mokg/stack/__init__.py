"""`mokg stack up | down | status`: the embedded servers, or health of the production ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from mokg.config import Settings
from mokg.stack.process import Service, ServiceStatus, StackError, start, status, stop
from mokg.stack.services import (
    LLAMA_SERVER_INSTALL,
    arcadedb_handle,
    arcadedb_service,
    llama_available,
    llama_handle,
    llama_service,
    valkey_handle,
    valkey_service,
)

COMPONENTS = ("graph", "broker", "llm")

__all__ = ["COMPONENTS", "StackError", "down", "handles", "services", "stack_status", "up"]


def _owned(settings: Settings, only: Sequence[str]) -> list[str]:
    """The components of ``only`` this configuration runs embedded: one pointed elsewhere is not ours."""
    ours = {
        "graph": settings.embedded_graph,
        "broker": not settings.broker_url,
        "llm": not settings.llm_base_url and llama_available(),
    }
    return [c for c in COMPONENTS if c in only and ours[c]]


def services(settings: Settings, only: Sequence[str] = COMPONENTS) -> list[Service]:
    """The embedded services this configuration owns, each with its start command."""
    build = {"graph": arcadedb_service, "broker": valkey_service, "llm": llama_service}
    return [build[c](settings) for c in _owned(settings, only)]


def handles(settings: Settings, only: Sequence[str] = COMPONENTS) -> list[Service]:
    """The same services with no start command: what `down` and `status` need (name, pid file, owner tag,
    ports, health). Building one writes nothing and reads no setting only a start uses (the model file, ...),
    so a setting broken since `up` cannot keep the running servers from being stopped."""
    build = {"graph": arcadedb_handle, "broker": valkey_handle, "llm": llama_handle}
    return [build[c](settings) for c in _owned(settings, only)]


def up(settings: Settings, only: Sequence[str] = COMPONENTS) -> list[str]:
    if "graph" in only and settings.embedded_graph:
        settings.check_analyst_user_is_not_graph_user()  # before anything starts
    settings.home.mkdir(parents=True, exist_ok=True)
    lines = [start(s) for s in services(settings, only)]
    if "llm" in only and not settings.llm_base_url and not llama_available():
        lines.append(f"llm: skipped — llama-server is not installed: {LLAMA_SERVER_INSTALL}")
    return lines


def down(settings: Settings, only: Sequence[str] = COMPONENTS) -> list[str]:
    # reverse order: the LLM and broker go before the graph they feed
    return [stop(s) for s in reversed(handles(settings, only))]


def stack_status(settings: Settings) -> list[ServiceStatus]:
    """The embedded servers' state, and a health check of each component pointed at an external server."""
    statuses = [status(s) for s in handles(settings)]
    if not settings.embedded_graph:
        statuses.append(_external("graph", settings.bolt_uri, lambda: _graph_ok(settings)))
    if settings.broker_url:
        statuses.append(_external("broker", settings.broker_url.split("@")[-1], lambda: _broker_ok(settings)))
    if settings.llm_base_url:
        statuses.append(_external("llm", settings.llm_url, lambda: _llm_ok(settings)))
    return statuses


def _external(name: str, where: str, check: Callable[[], bool]) -> ServiceStatus:
    try:
        healthy = check()
    except Exception:
        healthy = False
    return ServiceStatus(name, None, healthy, healthy, (), Path("-"), external=where)


def _graph_ok(settings: Settings) -> bool:
    from mokg.graph import Graph

    with Graph(settings, max_retry_s=2) as g:
        return g.ping()


def _broker_ok(settings: Settings) -> bool:
    import redis

    return bool(redis.Redis.from_url(settings.broker(), socket_timeout=2).ping())


def _llm_ok(settings: Settings) -> bool:
    import requests

    return requests.get(f"{settings.llm_url}/models", timeout=5).status_code == 200
