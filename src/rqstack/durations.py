"""Parse and format the duration strings users type: ``30s``, ``10m``, ``2h``, ``1d``."""

from __future__ import annotations

import re

from rqstack.errors import BadInput

#: Longest duration accepted anywhere (delays, timeouts, intervals): beyond it datetimes overflow.
MAX_DURATION_SECONDS = 10 * 365 * 86400

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | int | float, *, field: str = "duration", allow_zero: bool = False) -> float:
    """Seconds in ``text`` (``90``, ``30s``, ``10m``, ``1h30m``, ``2d``); BadInput when malformed."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise BadInput(_message(field, repr(text)), field=field)
    seconds = float(text) if isinstance(text, int | float) else _parse_text(text, field)
    if seconds > MAX_DURATION_SECONDS:
        raise BadInput(
            f"{field} {text!r} is longer than 10 years; nothing was saved; use a shorter duration",
            field=field,
        )
    if seconds < 0 or (seconds == 0 and not allow_zero) or seconds != seconds:
        sign = "cannot be negative" if allow_zero else "must be positive"
        raise BadInput(
            f"{field} {sign}, got {text!r}; nothing was saved; use a value like 30s, 10m or 2h",
            field=field,
        )
    return seconds


def parse_duration_list(text: str, *, field: str = "retry_interval") -> list[float]:
    """Seconds of each comma-separated duration (``30s,2m,10m``)."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise BadInput(_message(field, text), field=field)
    return [parse_duration(part, field=field, allow_zero=True) for part in parts]


def format_duration(seconds: float) -> str:
    """Shortest exact spelling of ``seconds`` (``90`` -> ``1m30s``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    remaining = round(seconds)
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out) or "0s"


def _parse_text(text: str, field: str) -> float:
    match = _DURATION_RE.match(text)
    if match:
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    compact = text.strip()
    parts = _PART_RE.findall(compact)
    if parts and "".join(number + unit for number, unit in parts) == compact:
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    raise BadInput(_message(field, text), field=field)


def _message(field: str, text: str) -> str:
    return (
        f"{field} {text!r} is not a duration; nothing was saved; "
        "write a number with a unit: 30s, 10m, 2h, 1d (or 1h30m)"
    )
