"""Hooks the worker calls after a job's outcome is stored: schedule run history, alerts, listeners.

Events: ``succeeded``, ``failed`` (final, after retries), ``retrying``, ``abandoned`` (its worker died;
followed by a retry or a final failure), ``canceled``. Every hook is guarded: a broken alert channel or
history write is logged and never changes the job's outcome or stops the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from rq.job import Job

from rqstack.settings import Settings
from rqstack.worker.retry import RETRY_META_KEY

#: Meta key naming the registered job (same as rqstack.worker.enqueue.JOB_NAME_META_KEY).
JOB_NAME_META_KEY = "rqstack_job"

logger = logging.getLogger(__name__)

#: Meta keys the scheduler sets on jobs it fires (see rqstack.sched.model / firing).
SCHEDULE_META_KEY = "rqstack_schedule"
FIRE_TIME_META_KEY = "rqstack_fire_time"

EVENTS = ("succeeded", "failed", "retrying", "abandoned", "canceled")
#: The events rqstack.worker.alerts.dispatch_job_event accepts from workers.
ALERT_EVENTS = ("succeeded", "failed")
#: Run-history status per event; ``retrying`` and ``abandoned`` are not final and are not recorded.
_RUN_STATUS = {"succeeded": "finished", "failed": "failed", "canceled": "canceled"}

Listener = Callable[[redis.Redis, str, dict[str, Any]], None]
_listeners: list[Listener] = []
_dispatch: Callable[..., Any] | None = None
_dispatch_loaded = False


def add_listener(listener: Listener) -> None:
    """Call ``listener(connection, event, job_info)`` after every job event of this process."""
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Undo ``add_listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


def job_info(
    job_id: str,
    queue: str,
    meta: dict[str, Any],
    *,
    name: str | None,
    worker: str,
    started: datetime | None,
    ended: datetime | None,
    error: str | None = None,
    retries_left: int | None = None,
    description: str | None = None,
    attempts: int | None = None,
) -> dict[str, Any]:
    """The JSON-safe description of a job event (the keys rqstack.worker.alerts.job_info uses, and more)."""
    return {
        "id": job_id,
        "job": name,
        "queue": queue,
        "description": description,
        "attempts": attempts,
        "meta": {k: v for k, v in meta.items() if isinstance(k, str) and k != "progress"},
        "worker": worker,
        "schedule": meta.get(SCHEDULE_META_KEY),
        "fire_time": meta.get(FIRE_TIME_META_KEY),
        "started_at": started.isoformat() if started else None,
        "ended_at": ended.isoformat() if ended else None,
        "duration": (ended - started).total_seconds() if started and ended else None,
        "error": error,
        "retries_left": retries_left,
    }


def info_of(
    job: Job,
    queue: str,
    worker: str,
    event: str,
    started: datetime | None,
    ended: datetime | None,
    error: str | None,
    retries_left: int | None,
) -> dict[str, Any]:
    """``job_info`` of an RQ job at the end of an attempt."""
    return job_info(
        job.id,
        queue,
        job.meta,
        name=job.meta.get(JOB_NAME_META_KEY),
        worker=worker,
        started=started,
        ended=ended,
        error=error,
        retries_left=retries_left,
        description=job.description,
        attempts=_attempts(job),
    )


def wants_event(event: str, meta: dict[str, Any], name: str | None, settings: Settings | None) -> bool:
    """False for the common case the fast path skips: a success nobody listens to."""
    if event != "succeeded" or _listeners or SCHEDULE_META_KEY in meta:
        return True
    return settings is not None and _alerts_on_success(settings, meta, name)


def emit(connection: redis.Redis, settings: Settings | None, event: str, info: dict[str, Any]) -> None:
    """Run every hook for ``event``; failures are logged, never raised."""
    schedule = info.get("schedule")
    status = _RUN_STATUS.get(event)
    if schedule and status:
        try:
            record_schedule_run(connection, str(schedule), info, status)
        except Exception:
            logger.exception(
                "recording run %s of schedule %s failed; its history shows the job's own status instead",
                info.get("id"),
                schedule,
            )
    dispatch = _alerts_dispatch()
    if dispatch is not None and settings is not None and event in ALERT_EVENTS:
        try:
            dispatch(connection, settings, event, info)
        except Exception:
            logger.exception(
                "alert for %s of job %s failed; the job's outcome is unchanged", event, info.get("id")
            )
    for listener in list(_listeners):
        try:
            listener(connection, event, info)
        except Exception:
            logger.exception("job event listener %r failed on %s of job %s", listener, event, info.get("id"))


def record_schedule_run(connection: redis.Redis, schedule: str, info: dict[str, Any], status: str) -> None:
    """Complete the schedule's run record through the scheduler's ``record_run_outcome``."""
    from rqstack.sched.history import record_run_outcome

    record_run_outcome(
        connection,
        schedule,
        str(info["id"]),
        status,
        _parse(info.get("started_at")),
        _parse(info.get("ended_at")),
    )


def _alerts_dispatch() -> Callable[..., Any] | None:
    global _dispatch, _dispatch_loaded
    if not _dispatch_loaded:
        _dispatch_loaded = True
        try:
            from rqstack.worker import alerts

            _dispatch = getattr(alerts, "dispatch_job_event", None)
        except Exception:
            logger.exception("rqstack.worker.alerts cannot be imported; job alerts are off in this worker")
            _dispatch = None
    return _dispatch


def _alerts_on_success(settings: Settings, meta: dict[str, Any], name: str | None) -> bool:
    if _alerts_dispatch() is None:
        return False
    try:
        from rqstack.worker.alerts.dispatch import wants_success_alert

        return wants_success_alert(
            settings, {"meta": meta, "job": name, "schedule": meta.get(SCHEDULE_META_KEY)}
        )
    except Exception:
        logger.exception("cannot tell whether job %s wants a success alert; not sending one", name)
        return False


def _attempts(job: Job) -> int | None:
    record = job.meta.get(RETRY_META_KEY)
    if not isinstance(record, dict) or not isinstance(record.get("max"), int):
        return None
    # retries_left is still the value before this attempt's outcome was written.
    return 1 + int(record["max"]) - (job.retries_left or 0)


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text).astimezone(UTC)
