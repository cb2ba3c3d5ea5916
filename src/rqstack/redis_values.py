"""Decode what Redis hands back: bytes to text, stored timestamps to aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def as_text(value: bytes | str) -> str:
    """``value`` as text (clients may return bytes or str depending on decode_responses)."""
    return value.decode() if isinstance(value, bytes) else value


def parse_utc(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO text (``Z`` allowed), bytes of it, or unix seconds; else None."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
