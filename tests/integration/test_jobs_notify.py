"""notify.* jobs against a real HTTP server and aiosmtpd, directly and through a worker."""

from __future__ import annotations

import pytest
import redis
from peers import HttpPeer, SmtpPeer
from rq.job import Job

from rqstack.connection import free_port
from rqstack.errors import BadInput, ConfigError
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.alerts.channels import DeliveryError
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.notify import backlog, notify_email, notify_slack, notify_webhook
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.runner import build_worker


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "RQSTACK_SLACK_WEBHOOK_URL",
        "RQSTACK_ALERT_WEBHOOK_URL",
        "RQSTACK_SMTP_URL",
        "RQSTACK_ALERT_EMAIL",
        "RQSTACK_BACKLOG_THRESHOLD",
    ):
        monkeypatch.delenv(name, raising=False)


def test_slack_uses_the_configured_webhook(http_peer: HttpPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RQSTACK_SLACK_WEBHOOK_URL", http_peer.url("/configured"))
    assert notify_slack("deploy done") == {"channel": "slack", "sent": True}
    assert notify_slack("to another", webhook_url=http_peer.url("/given"))["sent"]
    assert [(r["path"], r["json"]["text"]) for r in http_peer.requests] == [
        ("/configured", "deploy done"),
        ("/given", "to another"),
    ]


def test_webhook_posts_the_payload(http_peer: HttpPeer) -> None:
    notify_webhook(http_peer.url(), {"deploy": "v1.2", "ok": True})
    assert http_peer.bodies() == [{"deploy": "v1.2", "ok": True}]


def test_email_goes_to_the_given_or_configured_recipients(
    smtp_peer: SmtpPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RQSTACK_SMTP_URL", smtp_peer.url())
    monkeypatch.setenv("RQSTACK_ALERT_EMAIL", "ops@example.com")
    assert notify_email("Nightly", "all good")["to"] == ["ops@example.com"]
    assert notify_email("Two", "x", to=["a@example.com", "b@example.com"])["to"] == [
        "a@example.com",
        "b@example.com",
    ]
    assert [m["Subject"] for m in smtp_peer.inbox.messages] == ["Nightly", "Two"]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: notify_webhook("ftp://example.com/x", {}), "not an http"),
        (lambda: notify_slack("hi", webhook_url="file:///etc/passwd"), "not an http"),
        (lambda: notify_slack("   ", webhook_url="http://127.0.0.1/x"), "empty text"),
        (lambda: notify_email("s", "b", to="not-an-address", smtp_url="smtp://127.0.0.1"), "not an email"),
        (lambda: notify_email("s", "b", to=["ok@example.com", "bad@"], smtp_url="smtp://127.0.0.1"), "bad@"),
        (lambda: notify_email("s", "b", to="ok@example.com", smtp_url="http://x"), "not an SMTP URL"),
    ],
)
def test_bad_parameters_are_refused_before_sending(call: object, error: str) -> None:
    with pytest.raises(BadInput, match=error):
        call()  # type: ignore[operator]


def test_unset_channel_says_which_variable() -> None:
    with pytest.raises(ConfigError, match="RQSTACK_SLACK_WEBHOOK_URL is unset"):
        notify_slack("hi")
    with pytest.raises(ConfigError, match="RQSTACK_ALERT_EMAIL is unset"):
        notify_email("s", "b")
    with pytest.raises(ConfigError, match="RQSTACK_BACKLOG_THRESHOLD is unset"):
        backlog()


def test_a_failed_send_fails_the_job_so_rq_retries_it() -> None:
    with pytest.raises(DeliveryError, match="could not be reached"):
        notify_webhook(f"http://127.0.0.1:{free_port()}/x", {})


def test_notify_webhook_runs_on_a_worker(
    http_peer: HttpPeer, connection: redis.Redis, redis_env: dict[str, str]
) -> None:
    load_jobs()
    queued = enqueue(
        connection,
        EnqueueRequest(job="notify.webhook", kwargs={"url": http_peer.url(), "payload": {"n": 1}}),
    )
    build_worker(connection, ["default"]).work(burst=True)
    job = Job.fetch(queued.job_id, connection=connection, serializer=JSONFirstSerializer)
    assert job.get_status() == "finished"
    assert http_peer.bodies() == [{"n": 1}]


def test_backlog_job_reads_its_threshold(
    http_peer: HttpPeer, connection: redis.Redis, redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_jobs()
    for n in range(3):
        enqueue(connection, EnqueueRequest(job="demo.add", args=[n, n], queue="slow"))
    monkeypatch.setenv("RQSTACK_ALERT_WEBHOOK_URL", http_peer.url())
    monkeypatch.setenv("RQSTACK_BACKLOG_THRESHOLD", "2")
    assert backlog() == [{"queue": "slow", "depth": 3, "threshold": 2, "alerted": True}]
    assert backlog(threshold=5) == []
    assert [b["event"] for b in http_peer.bodies()] == ["backlog"]
