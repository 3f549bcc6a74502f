"""The ``/v1`` API: lookalike audiences, users, items, MoKG relations (scope ``lookup``) and read-only Cypher
(scope ``analyst``). Each view validates, calls :mod:`mokg`, and shapes JSON; nothing else."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import neo4j.exceptions
from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from mokg.analyst import CypherBusy, CypherRefused, CypherTimeout, read_only_error
from mokg.config import SettingsError
from mokg.lookalike.audience import (
    AudienceError,
    AudienceRequest,
    EmbeddingsUnavailable,
    Seeds,
    UnknownItem,
    expand_audience,
    top_categories,
)
from mokg.pair.resolution import normalize_name
from web.app import error, services
from web.auth import require
from web.metrics import AUDIENCE_SIZE, CYPHER_REFUSED, UNKNOWN_SEEDS
from web.validation import BadRequest, parse_cypher, parse_lookalike, query_int

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
    graph = services().graph
    try:
        audience = expand_audience(graph, req, seed_cache=services().seed_cache)
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
    graph = services().graph
    rows = graph.query("analyst/user", user_id=user_id)
    if not rows:
        return error(404, f"no user {user_id!r}")
    u = rows[0]
    nearest: list[dict[str, Any]] = []
    if u["embedding"] and n_neighbours:
        try:
            found = expand_audience(
                graph, AudienceRequest(seeds=Seeds(user_ids=(user_id,)), k=n_neighbours, method="centroid")
            )
            nearest = [{"user_id": m.user_id, "score": m.score} for m in found.users]
        except EmbeddingsUnavailable:
            nearest = []
    summary = {k: u[k] for k in ("n_reviews", "mean_rating", "mean_sentiment", "mean_polarity", "n_likes")}
    summary |= {
        "first_review": u["first_review"],
        "last_review": u["last_review"],
        "top_categories": top_categories(graph, [user_id], limit=5),
        "recent": graph.query("analyst/user_reviews", user_id=user_id, limit=n_reviews) if n_reviews else [],
    }
    return jsonify(
        user_id=u["user_id"],
        name=u["name"],
        profile=u["profile"],
        embedding_version=u["embedding_version"],
        embedding_at=u["embedding_at"],
        review_summary=summary,
        nearest_users=nearest,
        similar_users=graph.query("analyst/user_similar", user_id=user_id, limit=MAX_LIST),
    )


@api.get("/items/<asin>")
@require("lookup")
def item(asin: str) -> Any:
    graph = services().graph
    rows = graph.query("analyst/item", asin=asin)
    if not rows:
        return error(404, f"no item {asin!r}")
    # the mined MoKG triples, through PAIR's own analyst statement
    return jsonify(**rows[0], relations=graph.query("analyst/mokg_item_triples", asin=asin))


@api.get("/entities/<name>/relations")
@require("lookup")
def entity_relations(name: str) -> Any:
    limit = query_int(request.args, "limit", MAX_LIST, 1, 1000)
    normalised = normalize_name(name)
    # entity keys are "<Type>:<normalised-name-with-dashes>" (mokg.pair.resolution)
    suffix = ":" + normalised.replace(" ", "-") if normalised else name
    rows = services().graph.query(
        "analyst/entity_relations", names=sorted({name, normalised}), key=name, key_suffix=suffix, limit=limit
    )
    if not rows:
        return error(404, f"no MoKG entity named {name!r} (PAIR may not have written triples yet)")
    return jsonify(name=name, entities=rows)


@api.post("/cypher")
@require("analyst")
def cypher() -> Any:
    svc = services()
    req = parse_cypher(_json_body(), max_timeout_s=svc.cypher_timeout_s)
    try:
        result = svc.analyst.run(
            req.query, req.params, timeout_s=req.timeout_s, row_limit=req.limit, key=g.api_key.id
        )
    except CypherRefused as e:
        CYPHER_REFUSED.labels(e.clause.split()[0][:32]).inc()
        return error(403, str(e), clause=e.clause)
    except CypherTimeout as e:
        return error(504, str(e))
    except CypherBusy as e:
        return _busy(str(e))
    except SettingsError as e:
        return error(503, f"analyst queries are not configured: {e}")
    except neo4j.exceptions.Forbidden:
        # the server's own refusal: the analyst graph user may not write or change the schema
        CYPHER_REFUSED.labels("server").inc()
        return error(
            403, "the graph server refused the statement: this endpoint is read-only", clause="server"
        )
    except neo4j.exceptions.ClientError as e:
        return error(400, read_only_error(e), field="query")
    except neo4j.exceptions.TransientError:
        raise  # the app's handler: 503 with Retry-After
    except neo4j.exceptions.Neo4jError as e:
        return error(502, read_only_error(e))
    return jsonify(dataclasses.asdict(result))


def _busy(message: str) -> tuple[Response, int]:
    resp, status = error(429, message)
    resp.headers["Retry-After"] = "1"
    return resp, status
