"""Every error leaves as JSON ``{"error": {code, message, field}}`` under /api, as a page elsewhere."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify, render_template, request
from rq.exceptions import NoSuchJobError
from werkzeug.exceptions import HTTPException

from rqstack.errors import RqstackError

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "exists",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_attempts",
    500: "internal",
    503: "redis_unavailable",
}


class Unauthorized(RqstackError):
    """No valid token or login; nothing was done."""

    http_status = 401
    code = "unauthorized"


class Forbidden(RqstackError):
    """Authenticated, but the request may not be honoured (CSRF, cross-origin, foreign Host)."""

    http_status = 403
    code = "forbidden"


class TooManyAttempts(RqstackError):
    """Too many wrong tokens from one address; it must wait before trying again."""

    http_status = 429
    code = "too_many_attempts"


class MalformedRequest(RqstackError):
    """The body is not what the endpoint reads (not JSON, wrong shape); nothing was written."""

    http_status = 400
    code = "bad_request"


class UnsupportedMediaType(RqstackError):
    """The body has a content type the endpoint does not read."""

    http_status = 415
    code = "unsupported_media_type"


class Conflict(RqstackError):
    """The request is valid but clashes with the current state."""

    http_status = 409
    code = "conflict"


def wants_json() -> bool:
    """True for API and metrics paths, whose clients are programs."""
    return request.path.startswith(("/api/", "/metrics")) or request.path == "/api"


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """The JSON or HTML answer for one error."""
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message, "field": field}})
    else:
        response = Response(render_template("error.html", status=status, code=code, message=message))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="rqstack"'
    return response


def init_app(app: Flask) -> None:
    """Install the handlers on ``app``."""

    @app.errorhandler(RqstackError)
    def rqstack_error(exc: RqstackError) -> Response:
        return error_response(exc.http_status, exc.code, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 404 and wants_json():
            message = f"no API endpoint {request.method} {request.path}; see /api/openapi.json"
        if status == 413:
            message = "the request body is too large (limit 1 MiB); nothing was written; send less data"
        response = error_response(status, _CODES.get(status, "error"), message)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(NoSuchJobError)
    def no_such_job(exc: NoSuchJobError) -> Response:
        return error_response(404, "not_found", "that job does not exist (or its data expired)")

    @app.errorhandler(redis.RedisError)
    def redis_error(exc: redis.RedisError) -> Response:
        logger.warning("redis error answering %s %s: %s", request.method, request.path, exc)
        return error_response(
            503,
            "redis_unavailable",
            f"Redis did not answer ({type(exc).__name__}); nothing was done; retry later",
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        logger.error("unhandled error answering %s %s", request.method, request.path, exc_info=exc)
        return error_response(500, "internal", "an internal error occurred; see the dashboard log")
