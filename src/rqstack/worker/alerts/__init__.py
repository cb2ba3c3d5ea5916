"""Alerts on job and schedule events through Slack, email and webhooks, delivered without failing jobs."""

from rqstack.worker.alerts.delivery import DeliveryPolicy, Outcome
from rqstack.worker.alerts.dispatch import (
    EVENTS,
    check_backlog,
    deliver_event,
    dispatch_job_event,
    recent_alerts,
)
from rqstack.worker.alerts.info import job_info

__all__ = [
    "EVENTS",
    "DeliveryPolicy",
    "Outcome",
    "check_backlog",
    "deliver_event",
    "dispatch_job_event",
    "job_info",
    "recent_alerts",
]
