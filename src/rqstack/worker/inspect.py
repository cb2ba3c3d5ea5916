"""Read and steer jobs by id: details with progress, listings by status, cancel."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import redis
from rq import Queue
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import (
    BaseRegistry,
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from rqstack.constants import CANCEL_KEY_PREFIX, CANCEL_MARKER_TTL_SECONDS
from rqstack.errors import NotFound
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import JOB_NAME_META_KEY, check_name
from rqstack.worker.progress import read_progress
from rqstack.worker.unique import RELEASE_UNIQUE, unique_key_of, unique_lock_key

JOB_STATUSES = ("queued", "started", "scheduled", "deferred", "finished", "failed", "canceled")

_REGISTRIES: dict[str, type[BaseRegistry]] = {
    "started": StartedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "deferred": DeferredJobRegistry,
    "finished": FinishedJobRegistry,
    "failed": FailedJobRegistry,
    "canceled": CanceledJobRegistry,
}


def fetch_job(connection: redis.Redis, job_id: str) -> Job:
    """The RQ job ``job_id``; NotFound when it does not exist (or expired)."""
    check_name(job_id, "id")
    try:
        return Job.fetch(job_id, connection=connection, serializer=JSONFirstSerializer)
    except NoSuchJobError:
        raise NotFound(
            f"job {job_id!r} does not exist (never queued, or its data expired); nothing to show; "
            "list jobs with `rqstack job list`",
            field="id",
        ) from None


def job_details(connection: redis.Redis, job_id: str) -> dict[str, Any]:
    """JSON-safe status, progress, timestamps, result or error of one job."""
    job = fetch_job(connection, job_id)
    status = job.get_status(refresh=False)
    details: dict[str, Any] = {
        "id": job.id,
        "job": job.meta.get(JOB_NAME_META_KEY) or _func_name(job),
        "queue": job.origin,
        "status": str(status.value if status is not None else "unknown"),
        "description": job.description,
        "created_at": _iso(job.created_at),
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
        "progress": read_progress(job.meta),
        "result": None,
        "error": None,
        "retries_left": job.retries_left,
        "worker": job.worker_name,
        "timeout": job.timeout,
    }
    if status == JobStatus.FINISHED:
        details["result"] = _json_safe(job.return_value())
    elif status == JobStatus.FAILED:
        result = job.latest_result()
        details["error"] = result.exc_string if result is not None else None
    return details


def list_jobs(
    connection: redis.Redis, *, queue: str | None = None, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Jobs of one or every queue, filtered by status, at most ``limit``."""
    if queue is not None:
        check_name(queue, "queue")
    queues = [Queue(queue, connection=connection)] if queue else Queue.all(connection=connection)
    statuses = [status] if status else list(JOB_STATUSES)
    rows: list[dict[str, Any]] = []
    for q in queues:
        for wanted in statuses:
            if wanted == "queued":
                ids = q.get_job_ids(0, limit - 1)
            else:
                ids = _REGISTRIES[wanted](queue=q).get_job_ids(0, limit - 1)
            for job in Job.fetch_many(ids, connection=connection, serializer=JSONFirstSerializer):
                if job is not None:
                    rows.append(
                        {"id": job.id, "queue": q.name, "status": wanted, "description": job.description}
                    )
                if len(rows) >= limit:
                    return rows
    return rows


def cancel_job(connection: redis.Redis, job_id: str, *, wait: float = 5.0) -> str:
    """Cancel a job and return its status after: ``canceled``, or how it ended if it was already done.

    A queued, scheduled or deferred job is removed from its queue or registry; a running one is stopped
    through RQ's stop-job command (rqstack workers raise JobCanceled in it, or kill the horse) and this
    waits up to ``wait`` seconds for the worker to record the end (``canceling`` if it has not yet).
    """
    job = fetch_job(connection, job_id)
    status = job.get_status()
    if status == JobStatus.STARTED:
        connection.set(CANCEL_KEY_PREFIX + job_id, "1", ex=CANCEL_MARKER_TTL_SECONDS)
        if job.worker_name:
            send_stop_job_command(connection, job_id, serializer=JSONFirstSerializer)
        return _wait_for_end(connection, job, wait)
    if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED):
        return str(status.value)
    try:
        job.cancel()
    except InvalidJobOperation:
        return str(job.get_status().value)
    key = unique_key_of(job.meta)
    if key is not None:
        connection.eval(RELEASE_UNIQUE, 1, unique_lock_key(key), job_id)
    return "canceled"


def _wait_for_end(connection: redis.Redis, job: Job, wait: float) -> str:
    deadline = time.monotonic() + wait
    while True:
        status = job.get_status(refresh=True)
        if status != JobStatus.STARTED:
            return str(status.value)
        if time.monotonic() >= deadline:
            return "canceling"
        time.sleep(0.05)


def _func_name(job: Job) -> str | None:
    try:
        return job.func_name
    except Exception:  # job data written by a serializer this process cannot read
        return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _json_safe(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
