"""What every API route shares: the blueprint, the Redis client, the settings and strict JSON bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request

from rqstack.dashboard.http_errors import MalformedRequest, UnsupportedMediaType
from rqstack.errors import BadInput

api = Blueprint("api", __name__, url_prefix="/api")


def json_body() -> Any:
    """The request body as JSON; 415 for another content type, 400 when it does not parse."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"the body must be application/json, got {request.mimetype or 'none'!r}; nothing was written; "
            "send Content-Type: application/json"
        )
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest(f"the body is not valid JSON ({exc}); nothing was written") from None


def json_object() -> dict[str, Any]:
    """The body, which must be a JSON object."""
    body = json_body()
    if not isinstance(body, dict):
        raise MalformedRequest(
            f"the body must be a JSON object, got {type(body).__name__}; nothing was written"
        )
    return body


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter; BadInput naming it when out of range."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{name} must be a whole number, got {text!r}", field=name) from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be between {low} and {high}, got {value}", field=name)
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_time(text: str, field: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text; a time without a zone is refused, not guessed."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{field} {text!r} is not an ISO 8601 time; nothing was written; "
            "write e.g. 2026-12-01T03:00:00+09:00",
            field=field,
        ) from None
    if value.tzinfo is None:
        raise BadInput(
            f"{field} {text!r} has no time zone; nothing was written; add +09:00 or Z", field=field
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise BadInput(f"{field} {text!r} is out of range; nothing was written", field=field) from None
