"""Run history of schedules: records written at fire time, completed from the RQ job or a worker callback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis

from rqstack import constants
from rqstack.sched import scripts

#: RQ statuses after which a run record no longer changes.
_FINAL = {"finished", "failed", "stopped", "canceled"}


def record_run_outcome(
    connection: redis.Redis,
    schedule_name: str,
    job_id: str,
    status: str,
    started: datetime | None,
    ended: datetime | None,
) -> bool:
    """Store a run's result in its history record (for a worker callback); False when the run is unknown."""
    patch: dict[str, Any] = {"status": status}
    if started is not None:
        patch["started_at"] = started.astimezone(UTC).isoformat()
    if ended is not None:
        patch["ended_at"] = ended.astimezone(UTC).isoformat()
    if started is not None and ended is not None:
        patch["duration"] = round((ended - started).total_seconds(), 6)
    found = scripts.script(connection, "record_outcome")(
        keys=[constants.SCHEDULE_RUNS_KEY_PREFIX + schedule_name], args=[job_id, json.dumps(patch)]
    )
    return bool(found)


def enrich_runs(connection: redis.Redis, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill status, start, end and duration of unfinished runs from their RQ jobs (one round trip)."""
    pending = [r for r in records if r.get("job_id") and r.get("status") not in _FINAL]
    if not pending:
        return records
    with connection.pipeline(transaction=False) as pipe:
        for record in pending:
            pipe.hmget(constants.RQ_JOB_KEY_PREFIX + record["job_id"], "status", "started_at", "ended_at")
        replies = pipe.execute()
    for record, (status, started, ended) in zip(pending, replies, strict=True):
        if status is None:
            # The job's data expired or was deleted before an outcome was recorded.
            record["status"] = "expired"
            continue
        record["status"] = status.decode()
        start = _rq_time(started)
        end = _rq_time(ended)
        if start is not None:
            record["started_at"] = start.isoformat()
        if end is not None and record["status"] in _FINAL:
            record["ended_at"] = end.isoformat()
            if start is not None:
                record["duration"] = round((end - start).total_seconds(), 6)
    return records


def _rq_time(raw: bytes | None) -> datetime | None:
    if not raw:
        return None
    text = raw.decode()
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
