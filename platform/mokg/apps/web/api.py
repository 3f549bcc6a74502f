"""The ``/v1`` API: lookalike audiences, users, items, MoKG relations (scope ``lookup``) and read-only Cypher
(scope ``analyst``). Each view validates, calls :mod:`mokg`, and shapes JSON; nothing else."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import neo4j.exceptions
from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from mokg.analyst import CypherBusy, CypherRefused, CypherTimeout, CypherTooDeep, read_only_error
from mokg.apps.web.auth import require
from mokg.apps.web.errors import error, retry_later
from mokg.apps.web.metrics import AUDIENCE_SIZE, CYPHER_REFUSED, UNKNOWN_SEEDS
from mokg.apps.web.services import get_services
from mokg.apps.web.validation import BadRequest, parse_cypher, parse_lookalike, query_int
from mokg.cards import entity_card, item_card, user_card
from mokg.config import SettingsError
from mokg.lookalike.audience import (
    AudienceError,
    EmbeddingsUnavailable,
    UnknownItem,
    expand_audience,
    top_categories,
)

log = logging.getLogger("mokg.web")
api = Blueprint("v1", __name__, url_prefix="/v1")
MAX_LIST = 100


def _raw_body() -> bytes:
    """The request body, refused with 413 past the size limit however it is sent."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None:
        return request.get_data(cache=True)  # werkzeug answers 413 from Content-Length alone
    # chunked: no length to check up front, so read one byte past the limit and refuse if it came
    data: bytes = request.environ["wsgi.input"].read(limit + 1)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return data


def _json_body() -> Any:
    raw = _raw_body()
    if not request.is_json:
        raise BadRequest("body", "the body must be JSON (Content-Type: application/json)")
    try:
        return current_app.json.loads(raw)
    except ValueError as e:
        raise BadRequest("body", "the body must be JSON (Content-Type: application/json)") from e


@api.post("/lookalike")
@require("lookup")
def lookalike() -> Any:
    t0 = time.perf_counter()
    req = parse_lookalike(_json_body())
    graph = get_services().graph
    try:
        audience = expand_audience(graph, req, seed_cache=get_services().seed_cache)
    except UnknownItem as e:
        return error(404, str(e), field=e.field)
    except AudienceError as e:
        return error(400, str(e), field=e.field)
    except EmbeddingsUnavailable as e:
        return error(503, str(e))
    stats = dict(vars(audience.stats))  # flat: no need for asdict's deep copy
    AUDIENCE_SIZE.labels(audience.stats.method).observe(len(audience.users))
    UNKNOWN_SEEDS.inc(len(audience.stats.unknown_seed_ids))
    users = []
    for m in audience.users:
        row: dict[str, Any] = {"user_id": m.user_id, "score": m.score, "rank": m.rank}
        if req.explain:
            row["explanation"] = dataclasses.asdict(m.explanation) if m.explanation else None
        users.append(row)
    body: dict[str, Any] = {"users": users, "stats": stats, "model_version": audience.model_version}
    if req.explain:
        body["categories"] = {
            "seeds": top_categories(graph, audience.seed_ids),
            "audience": top_categories(graph, [m.user_id for m in audience.users]),
        }
    body["took_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return jsonify(body)


@api.get("/users/<user_id>")
@require("lookup")
def user(user_id: str) -> Any:
    n_neighbours = query_int(request.args, "neighbours", 10, 0, MAX_LIST)
    n_reviews = query_int(request.args, "reviews", 10, 0, MAX_LIST)
    card = user_card(
        get_services().graph, user_id, neighbours=n_neighbours, reviews=n_reviews, similar=MAX_LIST
    )
    return jsonify(card) if card else error(404, f"no user {user_id!r}")


@api.get("/items/<asin>")
@require("lookup")
def item(asin: str) -> Any:
    card = item_card(get_services().graph, asin)
    return jsonify(card) if card else error(404, f"no item {asin!r}")


@api.get("/entities/<name>/relations")
@require("lookup")
def entity_relations(name: str) -> Any:
    limit = query_int(request.args, "limit", MAX_LIST, 1, 1000)
    card = entity_card(get_services().graph, name, limit=limit)
    if card is None:
        return error(404, f"no MoKG entity named {name!r} (PAIR may not have written triples yet)")
    return jsonify(card)


@api.post("/cypher")
@require("analyst")
def cypher() -> Any:
    svc = get_services()
    req = parse_cypher(_json_body(), max_timeout_s=svc.cypher_timeout_s)
    try:
        result = svc.analyst.run(
            req.query, req.params, timeout_s=req.timeout_s, row_limit=req.limit, key=g.api_key.id
        )
    except CypherRefused as e:
        if e.clause == "empty":  # nothing to refuse: a request without a statement
            return error(400, str(e), field="query")
        CYPHER_REFUSED.labels(e.clause.split()[0][:32]).inc()
        return error(403, str(e), clause=e.clause)
    except CypherTooDeep as e:
        return error(400, str(e), field="query")
    except CypherTimeout as e:
        return error(504, str(e))
    except CypherBusy as e:
        return retry_later(429, str(e), e.retry_after_s)
    except SettingsError as e:
        return error(503, f"analyst queries are not configured: {e}")
    except neo4j.exceptions.Forbidden:
        # the server's own refusal: the analyst graph user may not write or change the schema
        CYPHER_REFUSED.labels("server").inc()
        return error(
            403, "the graph server refused the statement: this endpoint is read-only", clause="server"
        )
    except neo4j.exceptions.AuthError:
        # a ClientError too, but the server's configuration is wrong, not the request
        log.error("the graph server refused the analyst graph user %s", svc.settings.analyst_graph_user)
        return error(
            503,
            "the graph server refused the analyst graph user: the service's analyst credentials are wrong "
            "(MOKG_ANALYST_GRAPH_PASSWORD, or run `mokg stack up`)",
        )
    except neo4j.exceptions.ClientError as e:
        return error(400, read_only_error(e), field="query")
    except neo4j.exceptions.TransientError:
        raise  # the app's handler: 503 with Retry-After
    except neo4j.exceptions.Neo4jError as e:
        return error(502, read_only_error(e))
    return jsonify(dataclasses.asdict(result))
