"""Every error of the web service is JSON: ``{"error": ..., "field": ...}`` for a 400, ``{"error": ...}``
otherwise, with ``Retry-After`` where trying again helps."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=message, **extra), status


def retry_later(status: int, message: str, retry_after_s: int) -> tuple[Response, int]:
    """An error the client should repeat after ``retry_after_s`` seconds (429, 503)."""
    resp, status = error(status, message)
    resp.headers["Retry-After"] = str(retry_after_s)
    return resp, status
