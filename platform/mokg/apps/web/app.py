"""The Flask application factory: ``create_app(settings=None)``; gunicorn runs
``mokg.apps.web.app:create_app()``.

One :class:`~mokg.apps.web.services.Services` per process (:mod:`mokg.apps.web.services`) holds the graph
driver, the API-key cache and the analyst runner. Every error is JSON (:mod:`mokg.apps.web.errors`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import neo4j.exceptions
import orjson
from flask import Flask, Response, g, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from mokg.apps.web.api import api
from mokg.apps.web.errors import error, retry_later
from mokg.apps.web.metrics import LATENCY, REQUESTS, exposition
from mokg.apps.web.services import get_services, init_app
from mokg.apps.web.validation import BadRequest
from mokg.config import Settings, get_settings
from mokg.lookalike.audience import AudienceError, seed_query_names

log = logging.getLogger("mokg.web")
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
# lookalike bodies hold at most 2,000 seeds and 10,000 excluded ids of up to 128 characters
MAX_BODY_BYTES = 2 * 1024 * 1024


def _openapi() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())
    # the named seed queries are files under cypher/lookalike: the enum is filled from them, never by hand
    spec["components"]["schemas"]["LookalikeRequest"]["properties"]["seed_query"]["enum"] = seed_query_names()
    return spec


class OrjsonProvider(DefaultJSONProvider):
    """JSON through orjson: a lookalike answer of a hundred users encodes in a tenth of the stdlib's time.
    Types orjson lacks fall back to Flask's conversions (``default``)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        option = orjson.OPT_NON_STR_KEYS
        option |= orjson.OPT_SORT_KEYS if kwargs.get("sort_keys") else 0
        option |= orjson.OPT_INDENT_2 if kwargs.get("indent") else 0
        return orjson.dumps(obj, default=self.default, option=option).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def create_app(
    settings: Settings | None = None, *, key_ttl_s: float = 30.0, cypher_timeout_s: float = 10.0
) -> Flask:
    """The web service for these settings (default: the environment's)."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    init_app(app, settings or get_settings(), key_ttl_s=key_ttl_s, cypher_timeout_s=cypher_timeout_s)
    app.register_blueprint(api)
    spec = _openapi()

    @app.get("/")
    def index() -> str:
        return render_template("index.html")

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        import redis

        checks: dict[str, dict[str, Any]] = {}
        try:
            get_services().graph.ping()
            checks["graph"] = {"ok": True}
        except Exception as e:  # any failure is the answer here, not an error of the endpoint
            checks["graph"] = {"ok": False, "error": type(e).__name__}
        try:
            client = redis.Redis.from_url(
                get_services().settings.broker(), socket_timeout=2, socket_connect_timeout=2
            )
            client.ping()
            client.close()
            checks["broker"] = {"ok": True}
        except Exception as e:
            checks["broker"] = {"ok": False, "error": type(e).__name__}
        ok = all(c["ok"] for c in checks.values())
        return jsonify(status="ok" if ok else "unavailable", **checks), 200 if ok else 503

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, content_type=content_type)

    @app.before_request
    def start_timer() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def record(resp: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(endpoint, request.method, str(resp.status_code)).inc()
        if "t0" in g:
            LATENCY.labels(endpoint).observe(time.perf_counter() - g.t0)
        return resp

    @app.errorhandler(BadRequest)
    @app.errorhandler(AudienceError)
    def bad_request(e: BadRequest | AudienceError) -> tuple[Response, int]:
        return error(400, str(e), field=e.field)

    @app.errorhandler(neo4j.exceptions.ServiceUnavailable)
    @app.errorhandler(neo4j.exceptions.SessionExpired)
    @app.errorhandler(neo4j.exceptions.TransientError)
    def graph_down(e: Exception) -> tuple[Response, int]:
        # unreachable, restarting, or a transient fault the driver's retries did not outlast (a deadlock):
        # the client should try again, so never a 500
        log.warning("graph unavailable: %s: %s", type(e).__name__, e)
        if isinstance(e, neo4j.exceptions.TransientError):
            return retry_later(503, "the graph database is busy", 1)
        return retry_later(503, "the graph database is unavailable", 5)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[Response, int]:
        status = e.code or 500
        if status == 400:
            return error(400, e.description or "bad request", field="body")
        return error(status, e.description or e.name)

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return error(500, "internal error")

    return app
