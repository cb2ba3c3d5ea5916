"""maintenance.cleanup on a real redis-server and a real backup directory: old goes, recent stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq.job import Job

from rqstack import constants
from rqstack.errors import BadInput
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.cleanup import run_cleanup
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.runner import build_worker

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)


def rq_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_jobs(connection: redis.Redis, requests: list[EnqueueRequest]) -> list[str]:
    ids = [enqueue(connection, request).job_id for request in requests]
    build_worker(connection, ["default"]).work(burst=True)
    return ids


def backdate(connection: redis.Redis, job_id: str) -> None:
    connection.hset(
        constants.RQ_JOB_KEY_PREFIX + job_id,
        mapping={"ended_at": rq_time(OLD), "enqueued_at": rq_time(OLD), "created_at": rq_time(OLD)},
    )


def test_old_job_data_goes_and_recent_stays(connection: redis.Redis, tmp_path: Path) -> None:
    load_jobs()
    old_ok, old_failed, new_ok = run_jobs(
        connection,
        [
            EnqueueRequest(job="demo.add", args=[1, 2]),
            EnqueueRequest(job="demo.fail"),
            EnqueueRequest(job="demo.add", args=[3, 4]),
        ],
    )
    canceled = enqueue(connection, EnqueueRequest(job="demo.add", args=[0, 0], queue="later")).job_id
    Job.fetch(canceled, connection=connection, serializer=JSONFirstSerializer).cancel()
    for job_id in (old_ok, old_failed, canceled):
        backdate(connection, job_id)
    connection.zadd("rq:finished:default", {"ghost-job": NOW.timestamp() + 3600})

    result = run_cleanup(connection, Settings(data_dir=tmp_path), keep_days=30, history=False, backups=False)
    assert (result.jobs, result.stale_entries) == (3, 1)
    for job_id in (old_ok, old_failed, canceled):
        assert not connection.exists(constants.RQ_JOB_KEY_PREFIX + job_id)
        assert not connection.exists(f"rq:results:{job_id}")
    assert connection.exists(constants.RQ_JOB_KEY_PREFIX + new_ok)
    assert [m.decode() for m in connection.zrange("rq:finished:default", 0, -1)] == [new_ok]
    assert connection.zcard("rq:failed:default") == 0 and connection.zcard("rq:canceled:later") == 0

    again = run_cleanup(connection, Settings(data_dir=tmp_path), keep_days=30, history=False, backups=False)
    assert (again.jobs, again.stale_entries) == (0, 0)


def test_run_history_is_trimmed_by_age(connection: redis.Redis, tmp_path: Path) -> None:
    key = constants.SCHEDULE_RUNS_KEY_PREFIX + "nightly-backup"
    records = [  # newest first, as the scheduler writes them
        {"status": "queued", "fire_time": NOW.isoformat(), "job_id": "a"},
        {"status": "finished", "fire_time": (NOW - timedelta(days=29)).isoformat(), "job_id": "b"},
        {"status": "missed", "count": 2, "fire_time": (OLD + timedelta(days=5)).isoformat()},
        {"status": "failed", "fire_time": OLD.isoformat(), "job_id": "c"},
    ]
    connection.rpush(key, *[json.dumps(r) for r in records])
    only_old = constants.SCHEDULE_RUNS_KEY_PREFIX + "retired"
    connection.rpush(only_old, json.dumps({"status": "finished", "fire_time": OLD.isoformat()}))

    result = run_cleanup(connection, Settings(data_dir=tmp_path), keep_days=30, jobs=False, backups=False)
    assert result.runs == 3
    assert [json.loads(r)["job_id"] for r in connection.lrange(key, 0, -1)] == ["a", "b"]
    assert not connection.exists(only_old)


def test_old_backups_go_but_each_database_keeps_its_newest(connection: redis.Redis, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    names = {
        "app-old": f"app-{OLD:%Y%m%dT%H%M%SZ}.sql.gz",
        "app-older": f"app-{OLD - timedelta(days=3):%Y%m%dT%H%M%SZ}.sql.gz",
        "app-new": f"app-{NOW - timedelta(days=1):%Y%m%dT%H%M%SZ}.sql.gz",
        "solo-old": f"solo-{OLD:%Y%m%dT%H%M%SZ}.sql.gz",
        "foreign": "app-old-notes.txt",
    }
    for name in names.values():
        (backups / name).write_bytes(b"x")
    result = run_cleanup(connection, Settings(backup_dir=backups), keep_days=30, jobs=False, history=False)
    assert result.backup_files == sorted([names["app-old"], names["app-older"]])
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        [names["app-new"], names["solo-old"], names["foreign"]]
    )


def test_keep_days_must_be_positive(connection: redis.Redis) -> None:
    with pytest.raises(BadInput, match="keep_days must be at least 1"):
        run_cleanup(connection, Settings(), keep_days=0)


def test_cleanup_job_runs_on_a_worker(
    connection: redis.Redis, redis_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_jobs()
    monkeypatch.setenv("RQSTACK_BACKUP_DIR", str(tmp_path / "none-yet"))
    (old_job,) = run_jobs(connection, [EnqueueRequest(job="demo.add", args=[1, 1])])
    backdate(connection, old_job)
    (cleanup_id,) = run_jobs(connection, [EnqueueRequest(job="maintenance.cleanup", kwargs={"keep_days": 7})])
    job = Job.fetch(cleanup_id, connection=connection, serializer=JSONFirstSerializer)
    assert job.get_status() == "finished", job.latest_result()
    result = job.return_value()
    assert isinstance(result, dict)
    assert result["jobs"] == 1 and result["backups"] == 0 and result["runs"] == 0
    assert result["cutoff"].startswith(str((datetime.now(UTC) - timedelta(days=7)).date()))
