"""Prometheus metrics of the web service (``GET /metrics``).

Under gunicorn, ``mokg serve`` points PROMETHEUS_MULTIPROC_DIR at a folder so every worker's samples are
summed; the dev server and tests use the process's own registry.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("mokg_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "mokg_http_request_seconds",
    "HTTP request latency",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AUDIENCE_SIZE = Histogram(
    "mokg_lookalike_audience_users",
    "users returned per lookalike request",
    ["method"],
    buckets=(0, 10, 50, 100, 500, 1000, 5000, 10000),
)
UNKNOWN_SEEDS = Counter("mokg_lookalike_unknown_seeds_total", "seed ids not found in the graph")
CYPHER_REFUSED = Counter("mokg_cypher_refused_total", "analyst statements refused", ["clause"])
AUTH_FAILURES = Counter("mokg_auth_failures_total", "requests refused by auth", ["status"])


def exposition() -> tuple[bytes, str]:
    """The metrics text: every gunicorn worker's in multiprocess mode, else this process's."""
    try:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    except ValueError:  # PROMETHEUS_MULTIPROC_DIR is not set: one process
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
