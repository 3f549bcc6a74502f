"""Request validation: JSON bodies and query strings into the library's typed requests, or a 400 naming the field.

Nothing here builds query text: validated values become Cypher parameters. The bounds are the library's
(``mokg.lookalike.audience``, ``mokg.analyst``) and ``mokg/apps/web/openapi.json`` states the same numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from mokg import analyst
from mokg.lookalike.audience import (
    MAX_EXCLUDE,
    MAX_K,
    MAX_SEEDS,
    METHODS,
    AudienceRequest,
    Filters,
    Method,
    Seeds,
)

MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 256
MAX_PARAMS = 16
MAX_MIN_REVIEWS = 100_000
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1
DEFAULT_K = 100
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

LOOKALIKE_FIELDS = frozenset(
    {
        "seed_user_ids",
        "seed_item",
        "seed_query",
        "params",
        "k",
        "threshold",
        "method",
        "exclude_user_ids",
        "filters",
        "explain",
    }
)
CYPHER_FIELDS = frozenset({"query", "params", "limit", "timeout_s"})


class BadRequest(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _obj(body: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(field, "must be a JSON object")
    return body


def _unknown(body: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise BadRequest(prefix + str(key), "unknown field")


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    # bool is an int in Python but not in JSON
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(field, "must be an integer")
    if not lo <= value <= hi:
        raise BadRequest(field, f"must lie in [{lo}, {hi}]")
    return value


def _number(value: Any, field: str, lo: float, hi: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise BadRequest(field, "must be a finite number")
    if not lo <= value <= hi:
        raise BadRequest(field, f"must lie in [{lo:g}, {hi:g}]")
    return float(value)


def _text(value: Any, field: str, max_chars: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= max_chars:
        raise BadRequest(field, f"must be a string of 1 to {max_chars} characters")
    return value


def _ids(value: Any, field: str, lo: int, hi: int) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise BadRequest(field, "must be an array of user ids")
    if not lo <= len(value) <= hi:
        raise BadRequest(field, f"must hold {lo} to {hi} user ids")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not 1 <= len(v) <= MAX_ID_CHARS:
            _text(v, f"{field}[{i}]", MAX_ID_CHARS)  # raises, naming the element
    return tuple(value)


def _params(value: Any, field: str) -> dict[str, Any]:
    params = _obj(value, field)
    if len(params) > MAX_PARAMS:
        raise BadRequest(field, f"at most {MAX_PARAMS} parameters")
    out: dict[str, Any] = {}
    for key, v in params.items():
        where = f"{field}.{key}"
        if not _PARAM_NAME.match(key):
            raise BadRequest(where, "parameter names are identifiers")
        if isinstance(v, str):
            out[key] = _text(v, where, MAX_TEXT_CHARS) if v else v
        elif v is None or isinstance(v, bool):
            out[key] = v
        elif isinstance(v, int):
            if not MIN_INT64 <= v <= MAX_INT64:  # Bolt packs signed 64-bit integers only
                raise BadRequest(where, "integers must fit in signed 64 bits, [-2^63, 2^63 - 1]")
            out[key] = v
        elif isinstance(v, float):
            out[key] = _number(v, where, -1e15, 1e15)
        else:
            raise BadRequest(where, "parameter values are strings, numbers, booleans or null")
    return out


def parse_lookalike(body: Any) -> AudienceRequest:
    b = _obj(body, "body")
    _unknown(b, LOOKALIKE_FIELDS)
    given = [f for f in ("seed_user_ids", "seed_item", "seed_query") if f in b]
    if not given:
        raise BadRequest("seed_user_ids", "give one of seed_user_ids, seed_item or seed_query")
    if len(given) > 1:
        raise BadRequest(
            given[1], f"give only one of seed_user_ids, seed_item or seed_query, not {given[1]} too"
        )
    if "params" in b and "seed_query" not in b:
        raise BadRequest("params", "params go with seed_query")
    seeds = Seeds(
        user_ids=_ids(b["seed_user_ids"], "seed_user_ids", 1, MAX_SEEDS) if "seed_user_ids" in b else (),
        item=_text(b["seed_item"], "seed_item", MAX_ID_CHARS) if "seed_item" in b else None,
        query=_text(b["seed_query"], "seed_query", 64) if "seed_query" in b else None,
        params=_params(b.get("params", {}), "params"),
    )
    k = _int(b["k"], "k", 1, MAX_K) if "k" in b else None
    threshold = _number(b["threshold"], "threshold", -1.0, 1.0) if "threshold" in b else None
    # omitted: the model's recorded method, else centroid (decided by expand_audience once the seeds'
    # model version is known)
    method = b.get("method")
    if method is not None and method not in METHODS:
        raise BadRequest("method", f"must be one of {', '.join(METHODS)}")
    filters = _obj(b.get("filters", {}), "filters")
    _unknown(filters, frozenset({"category", "min_reviews"}), "filters.")
    explain = b.get("explain", False)
    if not isinstance(explain, bool):
        raise BadRequest("explain", "must be true or false")
    return AudienceRequest(
        seeds=seeds,
        k=DEFAULT_K if k is None and threshold is None else k,
        threshold=threshold,
        method=cast(Method | None, method),
        exclude=_ids(b.get("exclude_user_ids", []), "exclude_user_ids", 0, MAX_EXCLUDE),
        filters=Filters(
            category=_text(filters["category"], "filters.category", MAX_TEXT_CHARS)
            if "category" in filters
            else None,
            min_reviews=_int(filters["min_reviews"], "filters.min_reviews", 1, MAX_MIN_REVIEWS)
            if "min_reviews" in filters
            else None,
        ),
        explain=explain,
    )


@dataclass(frozen=True)
class CypherRequest:
    query: str
    params: dict[str, Any]
    limit: int
    timeout_s: float


def parse_cypher(body: Any, *, max_timeout_s: float) -> CypherRequest:
    b = _obj(body, "body")
    _unknown(b, CYPHER_FIELDS)
    if "query" not in b:
        raise BadRequest("query", "required")
    return CypherRequest(
        query=_text(b["query"], "query", analyst.MAX_QUERY_CHARS),
        params=_params(b.get("params", {}), "params"),
        limit=_int(b.get("limit", analyst.DEFAULT_ROWS), "limit", 1, analyst.MAX_ROWS),
        timeout_s=_number(b.get("timeout_s", max_timeout_s), "timeout_s", 0.1, max_timeout_s),
    )


def query_int(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer query-string argument within bounds."""
    raw = args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise BadRequest(name, "must be a non-negative integer")
    return _int(int(raw), name, lo, hi)
