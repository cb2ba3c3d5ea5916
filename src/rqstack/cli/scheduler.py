"""`rqstack scheduler`: the scheduler process (a drop-in for `rqscheduler`)."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click

from rqstack.cli.common import State, pass_state
from rqstack.connection import client_from_url, redis_url
from rqstack.constants import SCHEDULER_MAX_SLEEP_SECONDS
from rqstack.durations import parse_duration
from rqstack.errors import RedisUnavailable
from rqstack.sched.alerting import SchedulerAlerts
from rqstack.sched.loop import Scheduler

logger = logging.getLogger(__name__)


@click.command("scheduler")
@click.option(
    "--interval",
    metavar="S",
    default=str(SCHEDULER_MAX_SLEEP_SECONDS),
    show_default=True,
    help="Longest sleep between ticks (seconds or 500ms); due work wakes it earlier.",
)
@click.option("--burst", is_flag=True, help="One pass (fire due schedules, move due jobs), then exit.")
@pass_state
def scheduler_command(state: State, interval: str, burst: bool) -> None:
    """Fire schedules and move due delayed jobs (RQ's and rq-scheduler's); any number may run."""
    max_sleep = parse_duration(interval, field="interval")
    state.load_jobs()
    try:
        connection = state.connection()
    except RedisUnavailable as exc:
        if burst:
            raise
        # Started before Redis (honcho, systemd, a restart): wait for it instead of exiting.
        logger.warning("%s; the scheduler keeps retrying", exc.message)
        connection = client_from_url(redis_url(state.settings))
    alerts = SchedulerAlerts(connection, state.settings)
    scheduler = Scheduler(
        connection, max_sleep=min(max_sleep, 60.0), on_missed=alerts.missed, on_tick=alerts.after_tick
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        scheduler.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.run(burst=burst)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


COMMANDS = [scheduler_command]
