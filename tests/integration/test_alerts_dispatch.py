"""dispatch_job_event and check_backlog against a real HTTP server, aiosmtpd and redis-server."""

from __future__ import annotations

import logging
import time

import pytest
import redis
from peers import HttpPeer, SmtpPeer
from rq.job import Job

from rqstack.connection import free_port
from rqstack.constants import ALERT_ON_SUCCESS_META_KEY
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker.alerts import (
    DeliveryPolicy,
    check_backlog,
    deliver_event,
    dispatch_job_event,
    job_info,
    recent_alerts,
)
from rqstack.worker.alerts.delivery import reset_pauses
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.runner import build_worker

FAST = DeliveryPolicy(attempts=3, first_delay=0.05, max_delay=0.1, attempt_timeout=1.0, deadline=5.0)
FAILED = {
    "id": "nightly-backup-1764039600",
    "job": "backup.postgres",
    "queue": "default",
    "schedule": "nightly-backup",
    "attempts": 3,
    "error": "Traceback (most recent call last):\n  ...\nBackupFailed: pg_dump of x failed (exit 1)\n",
}


def settings_for(http: HttpPeer | None = None, smtp: SmtpPeer | None = None, **extra: object) -> Settings:
    return Settings(
        slack_webhook_url=http.url("/slack") if http else None,
        alert_webhook_url=http.url("/generic") if http else None,
        smtp_url=smtp.url() if smtp else None,
        alert_email="ops@example.com" if smtp else None,
        **extra,  # type: ignore[arg-type]
    )


def test_failed_job_alerts_every_channel(
    http_peer: HttpPeer, smtp_peer: SmtpPeer, connection: redis.Redis
) -> None:
    outcomes = deliver_event(connection, settings_for(http_peer, smtp_peer), "failed", FAILED, policy=FAST)
    assert {name: o.ok for name, o in outcomes.items()} == {"slack": True, "webhook": True, "email": True}

    by_path = {r["path"]: r["json"] for r in http_peer.requests}
    slack = by_path["/slack"]["text"]
    assert "backup.postgres failed (schedule nightly-backup) after 3 attempts" in slack
    assert "Error: BackupFailed: pg_dump of x failed (exit 1)" in slack
    generic = by_path["/generic"]
    assert generic["event"] == "failed"
    assert generic["job"]["id"] == FAILED["id"] and generic["job"]["schedule"] == "nightly-backup"
    assert generic["title"].startswith("backup.postgres failed")

    (mail,) = smtp_peer.inbox.messages
    assert mail["Subject"].startswith("[rqstack] backup.postgres failed")
    assert "nightly-backup-1764039600" in mail.get_content()

    (logged,) = recent_alerts(connection)
    assert logged["event"] == "failed" and logged["channels"]["email"]["ok"] is True


def test_a_500_is_retried_then_delivered(http_peer: HttpPeer) -> None:
    http_peer.statuses = [500, 502]
    outcomes = deliver_event(None, Settings(slack_webhook_url=http_peer.url()), "failed", FAILED, policy=FAST)
    assert outcomes["slack"].ok and outcomes["slack"].attempts == 3
    assert len(http_peer.requests) == 3


def test_a_dead_channel_is_logged_and_never_raises(
    smtp_peer: SmtpPeer, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    settings = Settings(slack_webhook_url=dead, smtp_url=smtp_peer.url(), alert_email="ops@example.com")
    with caplog.at_level(logging.WARNING, logger="rqstack.worker.alerts"):
        outcomes = deliver_event(None, settings, "failed", FAILED, policy=FAST)
        dispatch_job_event(None, settings, "failed", FAILED, policy=FAST)  # returns, never raises
    assert not outcomes["slack"].ok and outcomes["slack"].attempts == 3
    assert "could not be reached" in (outcomes["slack"].error or "")
    assert outcomes["email"].ok  # a dead channel does not stop the others
    assert len(smtp_peer.inbox.messages) == 2
    assert any("not delivered after 3 attempt(s)" in r.getMessage() for r in caplog.records)


def test_a_refusal_is_not_retried(http_peer: HttpPeer) -> None:
    http_peer.statuses = [404]
    outcomes = deliver_event(None, Settings(alert_webhook_url=http_peer.url()), "missed", {"schedule": "s"})
    assert not outcomes["webhook"].ok and outcomes["webhook"].attempts == 1


def test_a_hanging_server_is_cut_off_by_the_deadline(http_peer: HttpPeer) -> None:
    http_peer.delay = 1.0
    policy = DeliveryPolicy(attempts=10, first_delay=0.05, attempt_timeout=0.2, deadline=0.6)
    started = time.monotonic()
    dispatch_job_event(None, Settings(slack_webhook_url=http_peer.url()), "failed", FAILED, policy=policy)
    assert time.monotonic() - started < 1.0


def test_bad_event_or_settings_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        dispatch_job_event(None, Settings(), "exploded", {})
        dispatch_job_event(None, Settings(slack_webhook_url="ftp://x/y"), "failed", FAILED)
    assert "RQSTACK_SLACK_WEBHOOK_URL" in caplog.text


def test_success_alerts_are_opt_in(http_peer: HttpPeer) -> None:
    info = {"id": "j1", "job": "demo.add", "queue": "default", "duration": 1.25}
    assert deliver_event(None, Settings(slack_webhook_url=http_peer.url()), "succeeded", info) == {}
    by_setting = Settings(slack_webhook_url=http_peer.url(), alert_on_success=("demo.add",))
    assert deliver_event(None, by_setting, "succeeded", info)["slack"].ok
    by_meta = {**info, "meta": {ALERT_ON_SUCCESS_META_KEY: True}}
    assert deliver_event(None, Settings(slack_webhook_url=http_peer.url()), "succeeded", by_meta)["slack"].ok
    texts = [b["text"] for b in http_peer.bodies()]
    assert len(texts) == 2 and "demo.add succeeded in 1.2s" in texts[0]


def test_backlog_alerts_once_per_cooldown(http_peer: HttpPeer, connection: redis.Redis) -> None:
    load_jobs()
    for n in range(5):
        enqueue(connection, EnqueueRequest(job="demo.add", args=[n, 1], queue="busy"))
    enqueue(connection, EnqueueRequest(job="demo.add", args=[1, 1], queue="quiet"))
    settings = Settings(alert_webhook_url=http_peer.url(), backlog_threshold=3)
    first = check_backlog(connection, settings, policy=FAST)
    assert first == [{"queue": "busy", "depth": 5, "threshold": 3, "alerted": True}]
    assert check_backlog(connection, settings, policy=FAST)[0]["alerted"] is False
    (body,) = http_peer.bodies()
    assert body["event"] == "backlog" and body["title"] == "queue busy has 5 jobs waiting (threshold 3)"
    assert check_backlog(connection, Settings(alert_webhook_url=http_peer.url())) == []  # no threshold set


def test_job_info_of_a_failed_job(connection: redis.Redis) -> None:
    load_jobs()
    queued = enqueue(connection, EnqueueRequest(job="demo.fail", kwargs={"message": "disk on fire"}))
    build_worker(connection, ["default"]).work(burst=True)
    job = Job.fetch(queued.job_id, connection=connection, serializer=JSONFirstSerializer)
    info = job_info(job)
    assert info["id"] == queued.job_id and info["job"] == "demo.fail" and info["queue"] == "default"
    assert "disk on fire" in info["error"] and info["attempts"] == 1
    assert isinstance(info["duration"], float)


def test_missed_schedule_alert_names_the_schedule_and_time(http_peer: HttpPeer) -> None:
    info = {
        "schedule": "nightly-backup",
        "job": "backup.postgres",
        "missed": 3,
        "fire_time": "2026-11-25T03:00:00+09:00",
    }
    outcomes = deliver_event(None, Settings(slack_webhook_url=http_peer.url()), "missed", info, policy=FAST)
    assert outcomes["slack"].ok
    (body,) = http_peer.bodies()
    assert body["text"] == (
        ":warning: *schedule nightly-backup missed 3 run(s)*\nDue at: 2026-11-25T03:00:00+09:00"
    )


def test_sparse_job_info_still_alerts(http_peer: HttpPeer) -> None:
    dispatch_job_event(None, Settings(alert_webhook_url=http_peer.url()), "failed", {}, policy=FAST)
    (body,) = http_peer.bodies()
    assert body["title"] == "job failed" and body["job"] == {}


def test_a_channel_that_failed_is_paused_instead_of_holding_every_job(http_peer: HttpPeer) -> None:
    dead = Settings(
        slack_webhook_url=f"http://127.0.0.1:{free_port()}/hook", alert_webhook_url=http_peer.url()
    )
    first = deliver_event(None, dead, "failed", FAILED, policy=FAST)
    assert first["slack"].attempts == 3 and first["webhook"].ok
    second = deliver_event(None, dead, "failed", FAILED, policy=FAST)
    assert second["slack"].attempts == 0 and "skipped" in (second["slack"].error or "")
    assert second["webhook"].ok  # the healthy channel is not paused
    reset_pauses()
    assert deliver_event(None, dead, "failed", FAILED, policy=FAST)["slack"].attempts == 3
