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
@click.option(
    "--threads", type=click.IntRange(1), help="Threads per gunicorn worker (default: MOKG_WEB_THREADS, 32)."
)
def serve(dev: bool, host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve the lookup API, the analyst Cypher endpoint and the analyst page.

    Production: gunicorn (mokg/apps/web/gunicorn_conf.py) with threaded workers on MOKG_WEB_HOST:MOKG_WEB_PORT
    (127.0.0.1:8080 by default). Create a key first: `mokg keys create --scope lookup`.
    """
    import os
    import shutil

    s = get_settings()
    host, port = host or s.web_host, port or s.web_port
    if not os.environ.get("WERKZEUG_RUN_MAIN"):  # the dev reloader's child serves the socket its parent bound
        _check_bindable(host, port)
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


def _check_bindable(host: str, port: int) -> None:
    """Refuse, in one line, an address the server could not bind: gunicorn would retry for seconds and
    log each attempt, Flask would print a paragraph."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise click.ClickException(f"cannot serve on {host!r}: {e.strerror} (--host or MOKG_WEB_HOST)") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn and Flask bind
        try:
            sock.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is in use by another process: stop it, or choose another port "
                    "(--port or MOKG_WEB_PORT)"
                ) from e
            raise click.ClickException(
                f"cannot serve on {host}:{port}: {e.strerror} (--host/--port or MOKG_WEB_HOST/MOKG_WEB_PORT)"
            ) from e
