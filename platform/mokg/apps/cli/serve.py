"""`mokg serve`: the web service."""

from __future__ import annotations

import sys

import click

from mokg.apps.cli.output import console
from mokg.config import get_settings


@click.command()
@click.option(
    "--dev", is_flag=True, help="Flask's development server (auto-reload, one process); never in production."
)
@click.option("--host", help="Bind address (default: MOKG_WEB_HOST, loopback).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: MOKG_WEB_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="gunicorn worker processes (default: the core count, at least 2).",
)
@click.option("--threads", type=click.IntRange(1), help="Threads per gunicorn worker (default 8).")
def serve(dev: bool, host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve the lookup API, the analyst Cypher endpoint and the analyst page.

    Production: gunicorn (mokg/apps/web/gunicorn_conf.py) with threaded workers on MOKG_WEB_HOST:MOKG_WEB_PORT
    (127.0.0.1:8080 by default). Create a key first: `mokg keys create --scope lookup`.
    """
    import os
    import shutil

    s = get_settings()
    host, port = host or s.web_host, port or s.web_port
    if dev:
        from mokg.apps.web.app import create_app

        create_app(s).run(host=host, port=port, debug=True, use_reloader=True)
        return
    # every worker writes its Prometheus samples here; /metrics sums them (stale files are from a past run)
    prom = s.home / "run" / "prometheus"
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:mokg.apps.web.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
    ]
    argv += ["--workers", str(workers)] if workers else []
    argv += ["--threads", str(threads)] if threads else []
    console.print(f"serve: gunicorn on http://{host}:{port}/ (OpenAPI at /openapi.json)")
    os.execv(sys.executable, argv)
