"""`notify.slack`, `notify.email`, `notify.webhook` and `alerts.backlog`: the alert channels as jobs."""

from __future__ import annotations

from typing import Any

import redis
from rq import get_current_job

from rqstack.connection import connect
from rqstack.errors import BadInput, ConfigError
from rqstack.settings import Settings
from rqstack.worker.alerts.channels import (
    check_http_url,
    check_recipients,
    send_email,
    send_slack,
    send_webhook,
)
from rqstack.worker.alerts.dispatch import check_backlog
from rqstack.worker.jobs.registry import job

#: Each attempt may take this long; RQ's retries (with the intervals below) add the backoff.
_SEND_TIMEOUT = 15.0
_RETRY_INTERVALS = "10s,1m,5m"


@job(
    "notify.slack",
    timeout="1m",
    retry=3,
    retry_interval=_RETRY_INTERVALS,
    description="Post a message to a Slack incoming webhook (default RQSTACK_SLACK_WEBHOOK_URL)",
)
def notify_slack(text: str, webhook_url: str | None = None) -> dict[str, Any]:
    """Post ``text`` to a Slack incoming webhook (default RQSTACK_SLACK_WEBHOOK_URL)."""
    url = webhook_url or Settings.from_env().slack_webhook_url
    if not url:
        raise _unset("notify.slack", "RQSTACK_SLACK_WEBHOOK_URL", "webhook_url")
    send_slack(check_http_url(url, "webhook_url"), _text(text), timeout=_SEND_TIMEOUT)
    return {"channel": "slack", "sent": True}


@job(
    "notify.email",
    timeout="1m",
    retry=3,
    retry_interval=_RETRY_INTERVALS,
    description="Send a plain-text mail through RQSTACK_SMTP_URL (default to RQSTACK_ALERT_EMAIL)",
)
def notify_email(
    subject: str,
    body: str,
    to: str | list[str] | None = None,
    smtp_url: str | None = None,
) -> dict[str, Any]:
    """Mail ``body`` to ``to`` (default RQSTACK_ALERT_EMAIL) through RQSTACK_SMTP_URL."""
    settings = Settings.from_env()
    recipients = to or settings.alert_email
    if not recipients:
        raise _unset("notify.email", "RQSTACK_ALERT_EMAIL", "to")
    checked = check_recipients(recipients, "to")
    server = smtp_url or settings.smtp_url
    if not server:
        raise _unset("notify.email", "RQSTACK_SMTP_URL", "smtp_url")
    send_email(server, checked, subject, body, timeout=_SEND_TIMEOUT)
    return {"channel": "email", "sent": True, "to": checked}


@job(
    "notify.webhook",
    timeout="1m",
    retry=3,
    retry_interval=_RETRY_INTERVALS,
    description="POST a JSON payload to a URL (default RQSTACK_ALERT_WEBHOOK_URL)",
)
def notify_webhook(url: str | None = None, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST ``payload`` as JSON to ``url`` (default RQSTACK_ALERT_WEBHOOK_URL)."""
    target = url or Settings.from_env().alert_webhook_url
    if not target:
        raise _unset("notify.webhook", "RQSTACK_ALERT_WEBHOOK_URL", "url")
    send_webhook(check_http_url(target, "url"), payload or {}, timeout=_SEND_TIMEOUT)
    return {"channel": "webhook", "sent": True}


@job(
    "alerts.backlog",
    timeout="1m",
    description="Alert on queues deeper than a threshold (default RQSTACK_BACKLOG_THRESHOLD)",
)
def backlog(threshold: int | None = None) -> list[dict[str, Any]]:
    """Alert on queues deeper than ``threshold`` (default RQSTACK_BACKLOG_THRESHOLD); run it every minute."""
    settings = Settings.from_env()
    if threshold is None and settings.backlog_threshold is None:
        raise ConfigError(
            "alerts.backlog has no threshold: RQSTACK_BACKLOG_THRESHOLD is unset and none was given; "
            "nothing was checked; set RQSTACK_BACKLOG_THRESHOLD=1000 or pass threshold",
            field="threshold",
        )
    return check_backlog(job_connection(settings), settings, threshold)


def job_connection(settings: Settings) -> redis.Redis:
    """The running job's Redis connection, or one from settings outside a worker."""
    current = get_current_job()
    return current.connection if current is not None else connect(settings)


def _text(text: str) -> str:
    if not text.strip():
        raise BadInput("notify.slack got an empty text; nothing was sent; pass the message", field="text")
    return text


def _unset(job_name: str, variable: str, parameter: str) -> ConfigError:
    return ConfigError(
        f"{job_name} has nowhere to send: {variable} is unset and no {parameter} was given; nothing was "
        f"sent; set {variable} for the worker or pass {parameter}",
        field=parameter,
    )
