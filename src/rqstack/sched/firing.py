"""What a due schedule enqueues: its fire times after the misfire policy, job ids and job hashes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rqstack import constants
from rqstack.sched.cron import fires_between, interval_fires_between, next_fire, next_interval_fire
from rqstack.sched.model import Schedule
from rqstack.worker.enqueue import PreparedJob

#: Interval schedules are aligned to the epoch, so every process computes the same fire times.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FirePlan:
    """The fire times to enqueue now, how many the misfire policy dropped, and the next due time."""

    fires: tuple[datetime, ...]
    missed: int
    next_due: datetime


def next_after(schedule: Schedule, after: datetime) -> datetime:
    """The schedule's first fire strictly after ``after`` (aware UTC)."""
    if schedule.cron is not None:
        return next_fire(schedule.cron, schedule.timezone, after)
    assert schedule.every is not None  # validate() guarantees cron xor every
    return next_interval_fire(schedule.every, EPOCH, after)


def fires_in(schedule: Schedule, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """Fires in (start, end], at most ``limit``."""
    if schedule.cron is not None:
        return fires_between(schedule.cron, schedule.timezone, start, end, limit)
    assert schedule.every is not None
    return interval_fires_between(schedule.every, EPOCH, start, end, limit)


def upcoming(schedule: Schedule, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` fires after ``after``."""
    out: list[datetime] = []
    moment = after
    for _ in range(n):
        moment = next_after(schedule, moment)
        out.append(moment)
    return out


def plan_fires(schedule: Schedule, due: datetime, now: datetime) -> FirePlan:
    """Apply the misfire policy to the fires in [due, now]; fires older than the grace window are late."""
    if due > now:
        return FirePlan((), 0, due)
    limit = constants.MISFIRE_ALL_LIMIT
    next_due = next_after(schedule, now)
    late_end = now - timedelta(seconds=grace_of(schedule))
    if schedule.misfire == "all":
        fires = [due, *fires_in(schedule, due, now, limit - 1)]
        return FirePlan(tuple(fires), 0, next_due)
    if due > late_end:
        on_time = [due, *fires_in(schedule, due, now, limit - 1)]
        return FirePlan(tuple(on_time), 0, next_due)
    late = [due, *fires_in(schedule, due, late_end, limit - 1)]
    on_time = fires_in(schedule, late_end, now, limit)
    if on_time or schedule.misfire == "skip":
        return FirePlan(tuple(on_time), len(late), next_due)
    # Policy "once": a whole outage's worth of missed fires becomes one run, named by the latest.
    return FirePlan((late[-1],), len(late) - 1, next_due)


def grace_of(schedule: Schedule) -> float:
    """How late a fire may be and still count as on time."""
    return max(schedule.misfire_grace, constants.MISFIRE_TOLERANCE_SECONDS)


def fire_job_id(name: str, fire: datetime) -> str:
    """The deterministic job id of one fire: ``<name>-<unix fire time>``."""
    stamp = fire.timestamp()
    return f"{name}-{int(stamp)}" if stamp.is_integer() else f"{name}-{int(stamp * 1000)}ms"


def with_job_id(prepared: PreparedJob, job_id: str) -> PreparedJob:
    """``prepared`` with a fixed job id."""
    return dataclasses.replace(prepared, job_id=job_id)
