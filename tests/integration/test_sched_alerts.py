"""The scheduler reports missed windows and queue backlog to the alert channels, off its tick."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from peers import HttpPeer

from rqstack.sched.alerting import SchedulerAlerts
from rqstack.sched.loop import Scheduler
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.settings import Settings
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.registry import load_jobs

T0 = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _jobs() -> None:
    load_jobs()


def wait_for_requests(peer: HttpPeer, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(peer.requests) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_missed_fires_after_an_outage_send_one_alert_per_schedule(
    connection: redis.Redis, http_peer: HttpPeer
) -> None:
    settings = Settings(alert_webhook_url=http_peer.url())
    ScheduleStore(connection, clock=lambda: T0).create(
        Schedule("minutely", "demo.echo", every=60, misfire="skip", misfire_grace=30)
    )
    alerts = SchedulerAlerts(connection, settings)
    scheduler = Scheduler(connection, on_missed=alerts.missed, on_tick=alerts.after_tick)
    result = scheduler.tick(T0 + timedelta(minutes=10, seconds=45))
    alerts.wait_idle()
    assert result.missed == 10
    (request,) = http_peer.requests
    body = request["json"]
    assert body["event"] == "missed"
    assert "minutely" in str(body)


def test_a_tick_without_misses_sends_nothing(connection: redis.Redis, http_peer: HttpPeer) -> None:
    settings = Settings(alert_webhook_url=http_peer.url())
    ScheduleStore(connection, clock=lambda: T0).create(Schedule("minutely", "demo.echo", every=60))
    alerts = SchedulerAlerts(connection, settings)
    Scheduler(connection, on_missed=alerts.missed, on_tick=alerts.after_tick).tick(T0 + timedelta(minutes=1))
    alerts.wait_idle()
    assert http_peer.requests == []


def test_backlog_above_threshold_is_reported_once(connection: redis.Redis, http_peer: HttpPeer) -> None:
    settings = Settings(alert_webhook_url=http_peer.url(), backlog_threshold=3)
    for _ in range(5):
        enqueue(connection, EnqueueRequest("demo.echo"))
    alerts = SchedulerAlerts(connection, settings, backlog_every=0)
    scheduler = Scheduler(connection, on_missed=alerts.missed, on_tick=alerts.after_tick)
    scheduler.tick(datetime.now(UTC))
    scheduler.tick(datetime.now(UTC))
    alerts.wait_idle()
    wait_for_requests(http_peer, 1)
    assert len(http_peer.requests) == 1  # the cooldown keeps the second tick quiet
    assert http_peer.requests[0]["json"]["event"] == "backlog"
