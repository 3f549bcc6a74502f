"""`mokg stack up | down | status`: the embedded servers, or health of the production ones."""

from __future__ import annotations

from collections.abc import Sequence

from mokg.config import Settings
from mokg.stack.process import Service, ServiceStatus, StackError, start, status, stop
from mokg.stack.services import (
    arcadedb_service,
    llama_available,
    llama_service,
    valkey_service,
)

COMPONENTS = ("graph", "broker", "llm")

__all__ = ["COMPONENTS", "StackError", "down", "services", "stack_status", "up"]


def services(settings: Settings, only: Sequence[str] = COMPONENTS) -> list[Service]:
    """The embedded services this configuration owns: a component pointed elsewhere is not ours."""
    chosen: list[Service] = []
    if "graph" in only and settings.embedded_graph:
        chosen.append(arcadedb_service(settings))
    if "broker" in only and not settings.broker_url:
        chosen.append(valkey_service(settings))
    if "llm" in only and not settings.llm_base_url and llama_available():
        chosen.append(llama_service(settings))
    return chosen


def up(settings: Settings, only: Sequence[str] = COMPONENTS) -> list[str]:
    settings.home.mkdir(parents=True, exist_ok=True)
    lines = [start(s) for s in services(settings, only)]
    if "llm" in only and not settings.llm_base_url and not llama_available():
        lines.append("llm: skipped — llama-cpp-python is not installed (pip install -e '.[llm]')")
    return lines


def down(settings: Settings, only: Sequence[str] = COMPONENTS) -> list[str]:
    # reverse order: the LLM and broker go before the graph they feed
    return [stop(s) for s in reversed(services(settings, only))]


def stack_status(settings: Settings) -> list[ServiceStatus]:
    return [status(s) for s in services(settings)]
