"""The ``job_info`` dict alerts read, built from an RQ job so every hook describes jobs the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rq.job import Job

#: Meta keys set by rqstack's enqueue and scheduler (spelled as they write them).
_JOB_NAME_META_KEY = "rqstack_job"
_SCHEDULE_META_KEY = "rqstack_schedule"


def job_info(job: Job, *, error: str | None = None) -> dict[str, Any]:
    """JSON-safe facts about ``job``: id, job name, queue, schedule, timing, attempts, error, meta."""
    meta = dict(job.meta or {})
    started, ended = job.started_at, job.ended_at
    duration = (ended - started).total_seconds() if started and ended else None
    attempts = 1
    if job.number_of_retries:
        # retries_left counts down from number_of_retries as RQ requeues the job.
        attempts = 1 + job.number_of_retries - (job.retries_left or 0)
    if error is None:
        result = job.latest_result()
        error = result.exc_string if result is not None and result.exc_string else None
    return {
        "id": job.id,
        "job": meta.get(_JOB_NAME_META_KEY) or job.func_name,
        "queue": job.origin,
        "schedule": meta.get(_SCHEDULE_META_KEY),
        "description": job.description,
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(started),
        "ended_at": _iso(ended),
        "duration": duration,
        "attempts": attempts,
        "error": error,
        "meta": {k: v for k, v in meta.items() if k != "progress" and isinstance(k, str)},
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
