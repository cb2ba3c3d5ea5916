"""Turn job and schedule events into alerts on the configured channels; the worker's hooks call this."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

import redis

from rqstack import constants
from rqstack.errors import RqstackError
from rqstack.redis_values import as_text
from rqstack.settings import Settings
from rqstack.worker.alerts.channels import (
    check_http_url,
    check_recipients,
    send_email,
    send_slack,
    send_webhook,
)
from rqstack.worker.alerts.delivery import DEFAULT_POLICY, Channel, DeliveryPolicy, Outcome, deliver_all

logger = logging.getLogger(__name__)

EVENTS = ("failed", "succeeded", "missed", "backlog")
_ICONS = {"failed": ":x:", "succeeded": ":white_check_mark:", "missed": ":warning:", "backlog": ":warning:"}


def dispatch_job_event(
    connection: redis.Redis | None,
    settings: Settings,
    event: str,
    job_info: Mapping[str, Any],
    *,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> None:
    """Alert every configured channel about ``event``; retried, time-bounded, never raises."""
    try:
        deliver_event(connection, settings, event, job_info, policy=policy)
    except Exception:
        logger.exception("alert for %s event could not be sent", event)


def deliver_event(
    connection: redis.Redis | None,
    settings: Settings,
    event: str,
    job_info: Mapping[str, Any],
    *,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> dict[str, Outcome]:
    """Like ``dispatch_job_event`` but returns each channel's outcome (and may raise on a bad event)."""
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}; use one of {', '.join(EVENTS)}")
    # Checked before anything else: success hooks run on every job and must cost nothing by default.
    if event == "succeeded" and not wants_success_alert(settings, job_info):
        return {}
    sends = channel_sends(settings, event, job_info)
    if not sends:
        logger.debug("no alert channel configured; %s event not sent", event)
        return {}
    outcomes = deliver_all(sends, policy)
    if connection is not None:
        _record(connection, event, job_info, outcomes)
    return outcomes


def wants_success_alert(settings: Settings, job_info: Mapping[str, Any]) -> bool:
    """True when the job, its schedule or RQSTACK_ALERT_ON_SUCCESS asks for success alerts."""
    meta = job_info.get("meta")
    if job_info.get("alert_on_success") or (
        isinstance(meta, Mapping) and meta.get(constants.ALERT_ON_SUCCESS_META_KEY)
    ):
        return True
    names = set(settings.alert_on_success)
    return "*" in names or bool(names & {job_info.get("job"), job_info.get("schedule")})


def channel_sends(settings: Settings, event: str, job_info: Mapping[str, Any]) -> dict[str, Channel]:
    """One send per configured channel for an event; a misconfigured channel is logged and left out."""
    title, text = describe_event(event, job_info)
    payload = event_payload(event, job_info, title=title, text=text)
    body = text + "\n\n" + json.dumps(_json_safe(job_info), indent=2, sort_keys=True)
    return message_sends(settings, title=title, text=text, payload=payload, body=body)


def message_sends(
    settings: Settings, *, title: str, text: str, payload: dict[str, Any], body: str | None = None
) -> dict[str, Channel]:
    """Sends of one message: ``text`` to Slack, ``payload`` to the webhook, ``body`` (or text) by mail."""
    sends: dict[str, Channel] = {}
    try:
        if settings.slack_webhook_url:
            url = check_http_url(settings.slack_webhook_url, "RQSTACK_SLACK_WEBHOOK_URL")
            sends["slack"] = Channel(partial(_slack, url, text), url)
        if settings.alert_webhook_url:
            hook = check_http_url(settings.alert_webhook_url, "RQSTACK_ALERT_WEBHOOK_URL")
            sends["webhook"] = Channel(partial(_webhook, hook, payload), hook)
        if settings.smtp_url and settings.alert_email:
            recipients = check_recipients(settings.alert_email, "RQSTACK_ALERT_EMAIL")
            subject = f"[rqstack] {title}"
            mail = partial(_email, settings.smtp_url, recipients, subject, body or text)
            sends["email"] = Channel(mail, settings.smtp_url)
        elif settings.smtp_url or settings.alert_email:
            logger.warning("email alerts need both RQSTACK_SMTP_URL and RQSTACK_ALERT_EMAIL; email skipped")
    except RqstackError as exc:
        logger.warning("alert channel misconfigured: %s", exc.message)
    return sends


def describe_event(event: str, info: Mapping[str, Any]) -> tuple[str, str]:
    """A one-line title and a short Slack-style text for an event."""
    name = info.get("job") or "job"
    schedule = info.get("schedule")
    where = f" (schedule {schedule})" if schedule else ""
    lines = []
    if event == "failed":
        attempts = info.get("attempts")
        after = f" after {attempts} attempts" if isinstance(attempts, int) and attempts > 1 else ""
        title = f"{name} failed{where}{after}"
        error = _last_line(info.get("error"))
        if error:
            lines.append(f"Error: {error}")
    elif event == "succeeded":
        duration = info.get("duration")
        took = f" in {duration:.1f}s" if isinstance(duration, int | float) else ""
        title = f"{name} succeeded{where}{took}"
    elif event == "missed":
        count = info.get("missed", 1)
        title = f"schedule {schedule or name} missed {count} run(s)"
        if info.get("fire_time"):
            lines.append(f"Due at: {info['fire_time']}")
    else:
        title = (
            f"queue {info.get('queue', '?')} has {info.get('depth', '?')} jobs waiting "
            f"(threshold {info.get('threshold', '?')})"
        )
    for key, label in (("id", "Job id"), ("queue", "Queue")):
        if info.get(key) and event != "backlog":
            lines.append(f"{label}: {info[key]}")
    return title, "\n".join([f"{_ICONS[event]} *{title}*", *lines])


def event_payload(event: str, info: Mapping[str, Any], *, title: str, text: str) -> dict[str, Any]:
    """The generic webhook's JSON body: stable keys a receiver can route on."""
    return {
        "event": event,
        "title": title,
        "text": text,
        "job": _json_safe(info),
        "sent_at": datetime.now(UTC).isoformat(),
    }


def check_backlog(
    connection: redis.Redis,
    settings: Settings,
    threshold: int | None = None,
    *,
    cooldown: float = constants.DEFAULT_BACKLOG_ALERT_COOLDOWN_SECONDS,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> list[dict[str, Any]]:
    """Queues deeper than ``threshold`` (default RQSTACK_BACKLOG_THRESHOLD); alert each once per cooldown."""
    limit = threshold if threshold is not None else settings.backlog_threshold
    if limit is None:
        return []
    names = sorted(as_text(n) for n in connection.smembers(constants.RQ_QUEUES_KEY))
    with connection.pipeline(transaction=False) as pipe:
        for key in names:
            pipe.llen(key)
        depths = pipe.execute()
    over = []
    for key, depth in zip(names, depths, strict=True):
        if int(depth) <= limit:
            continue
        queue = key.removeprefix(constants.RQ_QUEUE_KEY_PREFIX)
        # SET NX EX: several schedulers or workers may check; only one alert per queue per cooldown.
        first = bool(
            connection.set(
                constants.ALERT_BACKLOG_KEY_PREFIX + queue, int(depth), nx=True, ex=max(1, int(cooldown))
            )
        )
        info = {"queue": queue, "depth": int(depth), "threshold": limit}
        if first:
            dispatch_job_event(connection, settings, "backlog", info, policy=policy)
        over.append({**info, "alerted": first})
    return over


def recent_alerts(connection: redis.Redis, limit: int = 50) -> list[dict[str, Any]]:
    """The latest alert deliveries, newest first (for the dashboard and tests)."""
    raw = connection.lrange(constants.ALERT_LOG_KEY, 0, max(0, limit - 1))
    return [json.loads(item) for item in raw]


def _slack(url: str, text: str, timeout: float) -> None:
    send_slack(url, text, timeout=timeout)


def _webhook(url: str, payload: dict[str, Any], timeout: float) -> None:
    send_webhook(url, payload, timeout=timeout)


def _email(smtp_url: str, to: list[str], subject: str, body: str, timeout: float) -> None:
    send_email(smtp_url, to, subject, body, timeout=timeout)


def _record(
    connection: redis.Redis, event: str, info: Mapping[str, Any], outcomes: Mapping[str, Outcome]
) -> None:
    entry = {
        "at": time.time(),
        "event": event,
        "job": info.get("job"),
        "id": info.get("id"),
        "schedule": info.get("schedule"),
        "queue": info.get("queue"),
        "channels": {
            name: {"ok": o.ok, "attempts": o.attempts, "error": o.error} for name, o in outcomes.items()
        },
    }
    try:
        with connection.pipeline(transaction=False) as pipe:
            pipe.lpush(constants.ALERT_LOG_KEY, json.dumps(entry, default=str))
            pipe.ltrim(constants.ALERT_LOG_KEY, 0, constants.ALERT_LOG_LIMIT - 1)
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not record the alert in Redis: %s", exc)


def _last_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= 300 else line[:299] + "…"


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
