"""API-key auth: ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``; 401 missing or bad, 403 wrong scope."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, jsonify, request

from mokg.apps.web.metrics import AUTH_FAILURES
from mokg.apps.web.services import get_services

F = TypeVar("F", bound=Callable[..., Any])


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("X-API-Key") or None


def _refuse(status: int, message: str) -> Any:
    AUTH_FAILURES.labels(str(status)).inc()
    resp = jsonify(error=message)
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="mokg"'
    return resp


def require(scope: str) -> Callable[[F], F]:
    """Route decorator: a live API key holding ``scope``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _token()
            if token is None:
                return _refuse(401, "an API key is required (Authorization: Bearer <key>)")
            key = get_services().keys.verify(token)
            if key is None:
                return _refuse(401, "the API key is not valid")
            if scope not in key.scopes:
                return _refuse(403, f"the API key lacks the {scope!r} scope")
            g.api_key = key
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
