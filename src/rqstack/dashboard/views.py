"""What the pages show, computed from Redis: schedule rows, overview numbers, recent failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from rq import Queue
from rq.registry import FailedJobRegistry

from rqstack.constants import RQ_JOB_KEY_PREFIX
from rqstack.durations import format_duration
from rqstack.sched.cron import describe_cron
from rqstack.sched.model import Schedule
from rqstack.sched.store import StoredSchedule

#: How many failed jobs per queue the overview inspects for "failures in the last 24 h".
FAILED_SCAN_LIMIT = 500


@dataclass(frozen=True)
class ScheduleRow:
    """One line of the schedules table."""

    schedule: Schedule
    timing_words: str
    timing_expr: str
    next_local: str | None
    next_utc: str | None
    last_status: str | None
    last_duration: str | None
    last_at: str | None


def timing_words(schedule: Schedule) -> str:
    """``At 03:00, every day`` or ``Every 10m``."""
    if schedule.cron is not None:
        return describe_cron(schedule.cron)
    return f"Every {format_duration(schedule.every or 0)}"


def timing_expr(schedule: Schedule) -> str:
    """The cron expression, or the interval spelled as a duration."""
    return schedule.cron if schedule.cron is not None else f"every {format_duration(schedule.every or 0)}"


def local_time(moment: datetime | None, zone: str) -> str | None:
    """``2026-11-26 03:00 KST`` in the schedule's zone."""
    if moment is None:
        return None
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z")


def utc_time(moment: datetime | None) -> str | None:
    """``2026-11-25 18:00:00 UTC``."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(seconds: Any) -> str | None:
    """A run's duration for a table cell."""
    if not isinstance(seconds, int | float):
        return None
    return (
        f"{seconds * 1000:.0f} ms"
        if seconds < 1
        else format_duration(seconds)
        if seconds >= 60
        else f"{seconds:.1f} s"
    )


def schedule_row(stored: StoredSchedule, last_run: dict[str, Any] | None) -> ScheduleRow:
    """The table row of one schedule and its latest run."""
    schedule = stored.schedule
    return ScheduleRow(
        schedule=schedule,
        timing_words=timing_words(schedule),
        timing_expr=timing_expr(schedule),
        next_local=local_time(stored.next_fire, schedule.timezone),
        next_utc=utc_time(stored.next_fire),
        last_status=None if last_run is None else str(last_run.get("status", "unknown")),
        last_duration=None if last_run is None else duration_text(last_run.get("duration")),
        last_at=None
        if last_run is None
        else _short_iso(last_run.get("fire_time") or last_run.get("enqueued_at")),
    )


def recent_failures(connection: redis.Redis, now: datetime, hours: int = 24) -> list[dict[str, Any]]:
    """Failed jobs that ended in the last ``hours``, newest first."""
    since = now - timedelta(hours=hours)
    found: list[dict[str, Any]] = []
    for queue in Queue.all(connection=connection):
        ids = FailedJobRegistry(queue=queue).get_job_ids(0, FAILED_SCAN_LIMIT - 1, cleanup=False)
        with connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(RQ_JOB_KEY_PREFIX + job_id, "ended_at", "description")
            replies = pipe.execute()
        for job_id, (ended_raw, description) in zip(ids, replies, strict=True):
            ended = _rq_time(ended_raw)
            if ended is not None and ended >= since:
                found.append(
                    {
                        "id": job_id,
                        "queue": queue.name,
                        "ended": ended,
                        "ended_text": utc_time(ended),
                        "description": (description or b"").decode(errors="replace"),
                    }
                )
    found.sort(key=lambda item: item["ended"], reverse=True)
    return found


def _rq_time(raw: bytes | None) -> datetime | None:
    if not raw:
        return None
    text = raw.decode().rstrip("Z")
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def when(text: Any) -> str:
    """An ISO time from the API as ``2026-11-25 14:12:29 UTC`` (a Jinja filter); anything else as is."""
    if not isinstance(text, str) or not text:
        return "—" if text in (None, "") else str(text)
    try:
        return utc_time(datetime.fromisoformat(text.replace("Z", "+00:00"))) or text
    except ValueError:
        return text


def _short_iso(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return utc_time(datetime.fromisoformat(text))
    except ValueError:
        return text
