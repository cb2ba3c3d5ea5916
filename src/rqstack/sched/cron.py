"""Pure schedule math: cron expressions (croniter, evaluated per zone) and drift-free intervals."""

from __future__ import annotations

import difflib
import functools
import math
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from rqstack.errors import BadInput, InvalidCron
from rqstack.sched.cron_words import describe_fields

__all__ = [
    "CronExpression",
    "describe_cron",
    "fire_times",
    "fires_between",
    "interval_fires_between",
    "next_fire",
    "next_interval_fire",
    "parse_cron",
    "validate_timezone",
]

MAX_CRON_LENGTH = 256

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31 or L"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-7 or sun-sat"),
)
_SECOND_FIELD = ("second", "0-59")
_FIX = "write five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *'"
_NOT_SAVED = "the schedule was not saved"
# H and R draw values from a hash or a random source: two scheduler processes would disagree.
_NONDETERMINISTIC = re.compile(r"(?<![a-z])[hr](?![a-z])")
# Validation searches from a fixed instant so its verdict never depends on today's date.
_REFERENCE = datetime(2000, 1, 1)
# Plain fields repeat within 8 years (Feb 29 across 2100); only 'nth weekday' (#) needs the
# whole 400-year Gregorian cycle, which costs ~4 ms, so that search runs only for '#'.
_QUICK_YEARS = 9
_FULL_YEARS = 400
_TICK = timedelta(microseconds=1)
# These name whatever the host is set to, so two scheduler hosts could disagree on a schedule.
_HOST_DEPENDENT_ZONES = frozenset({"localtime", "posixrules"})


@dataclass(frozen=True)
class CronExpression:
    """A validated cron expression: normalized text, aliases kept as written."""

    text: str
    has_seconds: bool

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields croniter evaluates (aliases expanded; seconds first when present)."""
        return tuple(_ALIASES.get(self.text, self.text).split())

    def __str__(self) -> str:
        return self.text


def parse_cron(expr: str) -> CronExpression:
    """Validate ``expr`` (5 fields, 6 with leading seconds, or an @alias) so it surely fires."""
    if not isinstance(expr, str):
        raise InvalidCron(f"cron must be text, not {type(expr).__name__}; {_NOT_SAVED}; {_FIX}", field="cron")
    return _parse(expr)


@functools.lru_cache(maxsize=1024)
def _parse(expr: str) -> CronExpression:
    text = " ".join(expr.split()).lower()
    if not text:
        raise _malformed(text, "the expression is empty")
    if len(text) > MAX_CRON_LENGTH:
        raise _malformed(text, f"it is {len(text)} characters long, at most {MAX_CRON_LENGTH} are allowed")
    if text.startswith("@every"):
        raise InvalidCron(
            f"cron {text!r} is not valid: @every is not cron syntax; {_NOT_SAVED}; "
            "use an interval schedule instead (every = '5m', or --every 5m)",
            field="cron",
        )
    if text.startswith("@"):
        if text not in _ALIASES:
            raise _malformed(text, f"unknown alias, use one of {', '.join(_ALIASES)}")
        return CronExpression(text, has_seconds=False)
    fields = text.split()
    if len(fields) not in (5, 6):
        raise _malformed(text, f"it has {len(fields)} fields, cron has 5 (or 6 with a leading seconds field)")
    _check_fields(text, fields)
    cron = CronExpression(text, has_seconds=len(fields) == 6)
    years = _FULL_YEARS if "#" in text else _QUICK_YEARS
    try:
        _croniter(cron, _REFERENCE, years).get_next(datetime)
    except CroniterBadDateError:
        raise _never(cron) from None
    return cron


def _check_fields(text: str, fields: list[str]) -> None:
    """Name the first field croniter rejects, with its allowed values, instead of croniter's words."""
    specs = (_SECOND_FIELD, *_FIELDS) if len(fields) == 6 else _FIELDS
    for index, (field, (name, allowed)) in enumerate(zip(fields, specs, strict=True)):
        if _NONDETERMINISTIC.search(field):
            raise _malformed(text, f"{name} field {field!r} uses H or R, which rqstack does not support")
        probe = ["*"] * len(fields)
        probe[index] = field
        if not croniter.is_valid(" ".join(probe), second_at_beginning=True):
            raise _malformed(
                text, f"{name} field {field!r} is not valid (allowed: {allowed}, *, lists, ranges, /steps)"
            )
    if not croniter.is_valid(text, second_at_beginning=True):
        raise _malformed(text, "croniter rejects the combination of fields")


def _malformed(text: str, what: str) -> InvalidCron:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return InvalidCron(f"cron {shown!r} is not valid: {what}; {_NOT_SAVED}; {_FIX}", field="cron")


def _never(cron: CronExpression) -> InvalidCron:
    fields = "day-of-month and month" if cron.fields[-1] == "*" else "day-of-month, month and day-of-week"
    return InvalidCron(
        f"cron {cron.text!r} never fires (no month has that day); {_NOT_SAVED}; check the {fields} fields",
        field="cron",
    )


def _croniter(cron: CronExpression, start: datetime, years: int) -> croniter:
    """A croniter over naive wall time: the zone is applied by ``_fires``."""
    return croniter(
        " ".join(cron.fields),
        start,
        day_or=True,
        max_years_between_matches=years,
        second_at_beginning=True,
    )


def validate_timezone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or BadInput naming the fix."""
    if isinstance(name, str) and name not in _HOST_DEPENDENT_ZONES:
        try:
            return _zone(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    guess = _suggest_zone(str(name))
    raise BadInput(
        f"unknown time zone {name!r}{guess}; {_NOT_SAVED}; use an IANA name like Europe/Berlin or UTC "
        "(list them with: python -c 'import zoneinfo; print(sorted(zoneinfo.available_timezones()))')",
        field="timezone",
    )


def _suggest_zone(name: str) -> str:
    """' (did you mean ...?)' for a near miss such as 'utc' or 'Europe/Berlim', else ''."""
    known = {zone.lower(): zone for zone in zoneinfo.available_timezones() - _HOST_DEPENDENT_ZONES}
    close = (
        [known[name.lower()]] if name.lower() in known else difflib.get_close_matches(name, known.values(), 1)
    )
    return f" (did you mean {close[0]!r}?)" if close else ""


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def next_fire(expr: str | CronExpression, tz: str | ZoneInfo, after: datetime) -> datetime:
    """The first fire strictly after ``after``, as an aware UTC datetime."""
    return next(_fires(expr, tz, after))


def fire_times(expr: str | CronExpression, tz: str | ZoneInfo, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` fires strictly after ``after``, aware UTC, increasing."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    fires = _fires(expr, tz, after)
    return [next(fires) for _ in range(n)]


def fires_between(
    expr: str | CronExpression, tz: str | ZoneInfo, start: datetime, end: datetime, limit: int = 1000
) -> list[datetime]:
    """The earliest ``limit`` fires in (start, end], aware UTC: what a misfire catch-up replays."""
    _require_aware(end, "end")
    result: list[datetime] = []
    if limit <= 0 or end <= start:
        return result
    for fire in _fires(expr, tz, start):
        if fire > end:
            break
        result.append(fire)
        if len(result) >= limit:
            break
    return result


def _fires(expr: str | CronExpression, tz: str | ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Fires strictly after ``after``, aware UTC, strictly increasing, without end."""
    _require_aware(after, "after")
    cron = expr if isinstance(expr, CronExpression) else parse_cron(expr)
    zone = tz if isinstance(tz, ZoneInfo) else validate_timezone(tz)
    last = after.astimezone(UTC)
    # Why naive wall time: croniter on aware datetimes fires a repeated (fall-back) wall time
    # twice. Iterating wall times yields each one once; resolving it with fold=0 picks its first
    # occurrence, and a wall time in a spring-forward gap maps to the gap's end. That mapping is
    # monotonic, so dropping candidates not after the previous fire collapses a gap (02:00,
    # 02:15, ... 03:00 -> one fire at 03:00) and skips what ``after`` already passed.
    wall = _wall_start(last, zone)
    times = _croniter(cron, wall, _FULL_YEARS)
    while True:
        try:
            candidate = times.get_next(datetime)
            fire = _resolve(candidate, zone)
        except CroniterBadDateError:
            raise _never(cron) from None
        except OverflowError:
            raise InvalidCron(
                f"cron {cron.text!r} has no fire time left before the end of the calendar (year 9999); "
                "nothing was computed; start from an earlier time",
                field="cron",
            ) from None
        if fire > last:
            last = fire
            yield fire


def _wall_start(after: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall time to iterate from; past the repeated hour when ``after`` is in its 2nd pass."""
    local = after.astimezone(zone)
    wall = local.replace(tzinfo=None)
    if not local.fold:
        return wall
    # Every wall time of the repeated window already fired on its first pass; jump to its end.
    shift = _offset(local.replace(fold=0)) - _offset(local)
    ts = after.timestamp()
    change = _transition(zone, math.floor(ts - shift.total_seconds()), math.ceil(ts))
    return change.astimezone(zone).replace(tzinfo=None) + shift - _TICK


def _resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall time: first occurrence if repeated, end of the gap if skipped."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = sorted((first.timestamp(), other.timestamp()))
    return _transition(zone, math.floor(low), math.ceil(high))


def _transition(zone: ZoneInfo, low: int, high: int) -> datetime:
    """The first whole second in (low, high] whose UTC offset differs from that at ``low``."""
    before = _offset(datetime.fromtimestamp(low, zone))
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(datetime.fromtimestamp(middle, zone)) == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None  # moments here always carry a ZoneInfo
    return offset


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with tzinfo), got naive {moment.isoformat()}")


def next_interval_fire(every_seconds: float, anchor: datetime, after: datetime) -> datetime:
    """``anchor + k * every`` for the least k >= 0 that is strictly after ``after``, aware UTC."""
    step = _step_micros(every_seconds)
    _require_aware(anchor, "anchor")
    _require_aware(after, "after")
    start = anchor.astimezone(UTC)
    if after < start:
        return start
    # Integer microseconds from the anchor: no float accumulation, so no drift over any k.
    elapsed = (after - start) // _TICK
    return start + (elapsed // step + 1) * step * _TICK


def interval_fires_between(
    every_seconds: float, anchor: datetime, start: datetime, end: datetime, limit: int = 1000
) -> list[datetime]:
    """The earliest ``limit`` interval fires in (start, end], aware UTC."""
    step = _step_micros(every_seconds)
    _require_aware(end, "end")
    result: list[datetime] = []
    if limit <= 0 or end <= start:
        return result
    fire = next_interval_fire(every_seconds, anchor, start)
    while fire <= end and len(result) < limit:
        result.append(fire)
        fire += step * _TICK
    return result


def _step_micros(every_seconds: float) -> int:
    if not math.isfinite(every_seconds) or every_seconds <= 0:
        raise ValueError(f"every_seconds must be a positive number, got {every_seconds!r}")
    step = round(every_seconds * 1_000_000)
    if step < 1:
        raise ValueError(f"every_seconds must be at least one microsecond, got {every_seconds!r}")
    return step


def describe_cron(expr: str | CronExpression) -> str:
    """Short English for the dashboard; the expression itself when no phrase fits."""
    cron = expr if isinstance(expr, CronExpression) else parse_cron(expr)
    return describe_fields(cron.fields) or cron.text
