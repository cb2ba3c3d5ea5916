"""What a request handler reaches through the app: its Redis client, settings and schedule store."""

from __future__ import annotations

import redis
from flask import current_app

from rqstack.sched.store import ScheduleStore
from rqstack.settings import Settings


def connection() -> redis.Redis:
    """The app's Redis client."""
    client: redis.Redis = current_app.config["RQSTACK_REDIS"]
    return client


def settings() -> Settings:
    """The app's settings."""
    value: Settings = current_app.config["RQSTACK_SETTINGS"]
    return value


def schedule_store() -> ScheduleStore:
    """The schedule store on the app's Redis."""
    return ScheduleStore(connection(), default_timezone=settings().timezone)
