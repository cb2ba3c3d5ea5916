"""report.daily from the schedule store's run history and RQ's registries, sent to real peers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from peers import HttpPeer, SmtpPeer
from rq.job import Job

from rqstack import constants
from rqstack.connection import free_port
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker.alerts import DeliveryPolicy
from rqstack.worker.alerts.channels import DeliveryError
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.jobs.report import run_report
from rqstack.worker.runner import build_fast_worker, build_worker

FAST = DeliveryPolicy(attempts=2, first_delay=0.05, max_delay=0.1, attempt_timeout=1.0, deadline=3.0)


@pytest.fixture
def activity(connection: redis.Redis) -> datetime:
    """Two schedules with a day of history, and a few ad-hoc jobs run by a worker; returns now."""
    load_jobs()
    now = datetime.now(UTC)
    store = ScheduleStore(connection)
    store.create(Schedule(name="nightly-backup", job="backup.postgres", cron="0 3 * * *"))
    store.create(Schedule(name="quiet", job="demo.add", every=3600.0, args=(1, 2)))

    def at(hours: float) -> str:
        return (now - timedelta(hours=hours)).isoformat()

    records = [  # newest first
        {"status": "finished", "fire_time": at(1), "job_id": "nb-1", "duration": 4.0},
        {"status": "failed", "fire_time": at(5), "job_id": "nb-2", "duration": 2.0},
        {"status": "missed", "count": 2, "fire_time": at(8)},
        {"status": "skipped", "reason": "overlap", "fire_time": at(9)},
        {"status": "finished", "fire_time": at(30), "job_id": "nb-0", "duration": 99.0},  # outside 24 h
    ]
    key = constants.SCHEDULE_RUNS_KEY_PREFIX + "nightly-backup"
    connection.delete(key)
    connection.rpush(key, *[json.dumps(r) for r in records])
    for request in (
        EnqueueRequest(job="demo.add", args=[1, 1]),
        EnqueueRequest(job="demo.add", args=[2, 2]),
        EnqueueRequest(job="demo.fail"),
    ):
        enqueue(connection, request)
    build_worker(connection, ["default"]).work(burst=True)
    return datetime.now(UTC)


def test_report_counts_runs_failures_and_durations(connection: redis.Redis, activity: datetime) -> None:
    result = run_report(connection, Settings(), now=activity)
    report = result["report"]
    assert report["schedules"]["nightly-backup"] == {
        "runs": 2,
        "failed": 1,
        "missed": 2,
        "skipped": 1,
        "duration_avg": 3.0,
        "duration_max": 4.0,
    }
    assert report["schedules"]["quiet"]["runs"] == 0
    assert report["jobs"]["demo.add"]["runs"] == 2 and report["jobs"]["demo.add"]["failed"] == 0
    assert report["jobs"]["demo.fail"] == {**report["jobs"]["demo.fail"], "runs": 1, "failed": 1}
    assert report["totals"] == {"runs": 2, "failed": 1, "missed": 2, "jobs": 3, "jobs_failed": 1}
    lines = result["text"].splitlines()
    assert lines[1] == "Schedules: 2 runs, 1 failed, 2 missed"
    assert lines[2].startswith(":x: nightly-backup: 2 runs, *1 failed*, 2 missed, 1 skipped, avg 3.0s")
    assert result["delivered"] == {}


def test_report_is_sent_to_every_channel(
    connection: redis.Redis, activity: datetime, http_peer: HttpPeer, smtp_peer: SmtpPeer
) -> None:
    settings = Settings(
        slack_webhook_url=http_peer.url("/slack"),
        alert_webhook_url=http_peer.url("/hook"),
        smtp_url=smtp_peer.url(),
        alert_email="ops@example.com",
    )
    result = run_report(connection, settings, now=activity, policy=FAST)
    assert result["delivered"] == {"slack": True, "webhook": True, "email": True}
    by_path = {r["path"]: r["json"] for r in http_peer.requests}
    assert by_path["/slack"]["text"] == result["text"]
    assert by_path["/hook"]["event"] == "report" and by_path["/hook"]["report"]["totals"]["failed"] == 1
    (mail,) = smtp_peer.inbox.messages
    assert mail["Subject"] == "[rqstack] daily report: 2 runs, 1 failed"
    assert "nightly-backup" in mail.get_content()


def test_report_fails_when_no_channel_takes_it(connection: redis.Redis) -> None:
    dead = Settings(alert_webhook_url=f"http://127.0.0.1:{free_port()}/hook")
    with pytest.raises(DeliveryError, match="reached no channel"):
        run_report(connection, dead, policy=FAST)
    assert run_report(connection, dead, send=False)["delivered"] == {}


def test_report_job_runs_on_a_worker(
    connection: redis.Redis, redis_env: dict[str, str], activity: datetime
) -> None:
    queued = enqueue(connection, EnqueueRequest(job="report.daily", kwargs={"send": False}))
    build_fast_worker(connection, ["default"]).work(burst=True)
    job = Job.fetch(queued.job_id, connection=connection, serializer=JSONFirstSerializer)
    assert job.get_status() == "finished", job.latest_result()
    result = job.return_value()
    assert isinstance(result, dict)
    assert result["report"]["schedules"]["nightly-backup"]["failed"] == 1
    assert result["text"].startswith("*rqstack report* for the 24 h before")
