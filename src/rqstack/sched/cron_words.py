"""English phrases for common cron shapes, for the dashboard; anything unusual gets None."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["describe_fields"]

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_NAMES = {name[:3].lower(): number for number, name in enumerate(_DAYS)}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NAMES = {name[:3].lower(): number for number, name in enumerate(_MONTHS, start=1)}
_STEP = re.compile(r"\*/(\d+)")


def describe_fields(fields: Sequence[str]) -> str | None:
    """A phrase for five cron fields (six with leading seconds), or None when no phrase fits."""
    if len(fields) == 6:
        second, fields = fields[0], fields[1:]
        if all(field == "*" for field in fields):
            if second == "*":
                return "every second"
            step = _step(second)
            return f"every {step} seconds" if step else None
        if second != "0":
            return None
    if len(fields) != 5:
        return None
    minute, hour, dom, month, dow = fields
    every_day = (dom, month, dow) == ("*", "*", "*")
    if every_day and hour == "*":
        return _minutes(minute)
    at_minute = _number(minute, 0, 59)
    hour_step = _step(hour)
    if every_day and at_minute is not None and hour_step:
        return f"at minute {at_minute} past every {hour_step} hours"
    times = _times(at_minute, hour)
    days = _days(dom, month, dow)
    if times is None or days is None:
        return None
    return f"at {times} {days}"


def _minutes(minute: str) -> str | None:
    if minute == "*":
        return "every minute"
    step = _step(minute)
    if step:
        return f"every {step} minutes"
    at = _number(minute, 0, 59)
    return None if at is None else f"at minute {at} past every hour"


def _times(minute: int | None, hour: str) -> str | None:
    """'03:00', or '09:00 and 17:00' for an hour list; None for anything else."""
    hours = [_number(part, 0, 23) for part in hour.split(",")]
    if minute is None or any(h is None for h in hours):
        return None
    return _join([f"{h:02d}:{minute:02d}" for h in hours])


def _days(dom: str, month: str, dow: str) -> str | None:
    if dom == "*" and month == "*":
        if dow == "*":
            return "every day"
        weekdays = _weekdays(dow)
        return None if weekdays is None else f"on {weekdays}"
    if dow != "*":
        return None
    day = "the last day" if dom == "l" else _ordinal(dom)
    if day is None:
        return None
    if month == "*":
        return f"on {day} of every month"
    number = _MONTH_NAMES.get(month) or _number(month, 1, 12)
    return None if number is None else f"on {day} of {_MONTHS[number - 1]}"


def _weekdays(dow: str) -> str | None:
    """'Sunday', 'Monday through Friday', 'Monday, Wednesday and Friday'; None for # / L / steps."""
    names: list[str] = []
    for part in dow.split(","):
        first, _, last = part.partition("-")
        start, end = _weekday(first), _weekday(last or first)
        if start is None or end is None:
            return None
        if last and end == 0 < start:
            end = 7  # 'fri-sun': Sunday is both 0 and 7
        if last and start >= end:
            return None  # croniter wraps reversed ranges; too subtle for a phrase
        names.append(_DAYS[start % 7] if not last else f"{_DAYS[start % 7]} through {_DAYS[end % 7]}")
    return _join(names)


def _weekday(text: str) -> int | None:
    number = _DAY_NAMES.get(text)
    return number if number is not None else _number(text, 0, 7)


def _ordinal(dom: str) -> str | None:
    day = _number(dom, 1, 31)
    if day is None:
        return None
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"the {day}{suffix}"


def _step(field: str) -> int | None:
    match = _STEP.fullmatch(field)
    return int(match.group(1)) if match and int(match.group(1)) > 1 else None


def _number(text: str, low: int, high: int) -> int | None:
    return int(text) if text.isdigit() and low <= int(text) <= high else None


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
