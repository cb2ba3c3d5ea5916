"""`maintenance.cleanup`: drop finished/failed/canceled job data, run history and backups past an age."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from rq.job import Job

from rqstack import constants
from rqstack.errors import BadInput
from rqstack.redis_values import as_text, parse_utc
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker.jobs.backup import backup_files_any
from rqstack.worker.jobs.notify import job_connection
from rqstack.worker.jobs.registry import job
from rqstack.worker.progress import report_progress

logger = logging.getLogger(__name__)

#: Registries of jobs that will not run again, as RQ 3 names their keys.
_DONE_REGISTRIES = ("finished", "failed", "canceled")
_BATCH = 500


@dataclass
class CleanupResult:
    """Counts of what was removed, and the cutoff used."""

    cutoff: datetime
    jobs: int = 0
    stale_entries: int = 0
    runs: int = 0
    backups: int = 0
    backup_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form returned by the job."""
        return {
            "cutoff": self.cutoff.isoformat(),
            "jobs": self.jobs,
            "stale_entries": self.stale_entries,
            "runs": self.runs,
            "backups": self.backups,
            "backup_files": self.backup_files,
        }


@job(
    "maintenance.cleanup",
    timeout="30m",
    description="Delete job data, schedule run history and backups older than keep_days",
)
def cleanup(
    keep_days: int = 30,
    jobs: bool = True,
    history: bool = True,
    backups: bool = True,
) -> dict[str, Any]:
    """Remove what is older than ``keep_days``: done jobs, run records and backup files."""
    settings = Settings.from_env()
    result = run_cleanup(
        job_connection(settings),
        settings,
        keep_days=keep_days,
        jobs=jobs,
        history=history,
        backups=backups,
    )
    return result.as_dict()


def run_cleanup(
    connection: redis.Redis,
    settings: Settings,
    *,
    keep_days: int,
    jobs: bool = True,
    history: bool = True,
    backups: bool = True,
    now: datetime | None = None,
) -> CleanupResult:
    """Clean everything that was asked for; each part is independent of the others."""
    if isinstance(keep_days, bool) or keep_days < 1:
        raise BadInput(
            f"keep_days must be at least 1, got {keep_days}; nothing was removed", field="keep_days"
        )
    now = now or datetime.now(UTC)
    result = CleanupResult(cutoff=now - timedelta(days=keep_days))
    if jobs:
        report_progress(0, 3, "job data")
        result.jobs, result.stale_entries = clean_jobs(connection, result.cutoff)
    if history:
        report_progress(1, 3, "run history")
        result.runs = trim_run_history(connection, result.cutoff)
    if backups:
        report_progress(2, 3, "backups")
        result.backup_files = remove_old_backups(settings.backups, result.cutoff)
        result.backups = len(result.backup_files)
    report_progress(3, 3, "done")
    logger.info(
        "cleanup before %s removed %s jobs, %s stale entries, %s run records, %s backups",
        result.cutoff.isoformat(),
        result.jobs,
        result.stale_entries,
        result.runs,
        result.backups,
    )
    return result


def clean_jobs(connection: redis.Redis, cutoff: datetime) -> tuple[int, int]:
    """Delete done jobs that ended before ``cutoff``; drop registry entries whose job is gone."""
    deleted = stale = 0
    for key in _done_registry_keys(connection):
        ids = [as_text(i) for i in _members(connection.zrange(key, 0, -1))]
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            found = Job.fetch_many(batch, connection=connection, serializer=JSONFirstSerializer)
            with connection.pipeline() as pipe:
                for job_id, job in zip(batch, found, strict=True):
                    if job is None:
                        # The hash expired on its own (result TTL) but RQ left the registry entry.
                        pipe.zrem(key, job_id)
                        stale += 1
                    elif _finished_before(job, cutoff):
                        job.delete(pipeline=pipe, remove_from_queue=False)
                        pipe.zrem(key, job_id)
                        deleted += 1
                pipe.execute()
    return deleted, stale


def trim_run_history(connection: redis.Redis, cutoff: datetime) -> int:
    """Drop schedule run records older than ``cutoff`` (the store keeps lists newest first)."""
    removed = 0
    pattern = constants.SCHEDULE_RUNS_KEY_PREFIX + "*"
    for key in {as_text(k) for k in connection.scan_iter(match=pattern, count=1000)}:
        removed += _trim_list(connection, key, cutoff)
    return removed


def remove_old_backups(directory: Path, cutoff: datetime) -> list[str]:
    """Delete backup files (our naming pattern only) stamped before ``cutoff``, keeping each db's newest."""
    removed = []
    for files in backup_files_any(directory).values():
        for stamp, path in files[1:]:
            if stamp < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path.name)
    return sorted(removed)


def _trim_list(connection: redis.Redis, key: str, cutoff: datetime) -> int:
    with connection.pipeline() as pipe:
        while True:
            try:
                # WATCH: the scheduler may push or update a record meanwhile; then read again.
                pipe.watch(key)
                records = pipe.lrange(key, 0, -1)
                keep = len(records)
                # Newest first: cut after the last record that is still young.
                while keep > 0 and _record_before(records[keep - 1], cutoff):
                    keep -= 1
                if keep == len(records):
                    return 0
                pipe.multi()
                if keep == 0:
                    pipe.delete(key)
                else:
                    pipe.ltrim(key, 0, keep - 1)
                pipe.execute()
                return len(records) - keep
            except redis.WatchError:
                continue


def _record_before(raw: bytes | str, cutoff: datetime) -> bool:
    try:
        record = json.loads(raw)
    except ValueError:
        return False
    for name in ("ended_at", "fire_time", "enqueued_at", "recorded_at"):
        moment = parse_utc(record.get(name)) if isinstance(record, dict) else None
        if moment is not None:
            return moment < cutoff
    return False


def _finished_before(job: Job, cutoff: datetime) -> bool:
    moment = job.ended_at or job.enqueued_at or job.created_at
    if moment is None:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # RQ stores naive UTC
    return moment < cutoff


def _done_registry_keys(connection: redis.Redis) -> list[str]:
    keys: set[str] = set()
    for kind in _DONE_REGISTRIES:
        prefix = f"rq:{kind}:"
        keys.update(as_text(k) for k in connection.scan_iter(match=prefix + "*", count=1000))
        for queue_key in connection.smembers(constants.RQ_QUEUES_KEY):
            keys.add(prefix + as_text(queue_key).removeprefix(constants.RQ_QUEUE_KEY_PREFIX))
    return sorted(keys)


def _members(reply: Any) -> list[bytes | str]:
    return list(reply)
