"""Scheduler-side alerts (missed schedule windows, queue backlog), sent off the tick's thread."""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable

import redis

from rqstack.sched.firer import MissedFire
from rqstack.settings import Settings
from rqstack.worker.alerts import check_backlog, dispatch_job_event

logger = logging.getLogger(__name__)

#: How often the leader compares queue depths with RQSTACK_BACKLOG_THRESHOLD.
BACKLOG_CHECK_SECONDS = 60.0
#: Alerts waiting to be sent; beyond this a burst of outage reports is dropped (and logged).
_PENDING_LIMIT = 1000


class SchedulerAlerts:
    """Sends alerts from one background thread so a slow channel never delays a tick."""

    def __init__(
        self,
        connection: redis.Redis,
        settings: Settings,
        *,
        backlog_every: float = BACKLOG_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self.backlog_every = backlog_every
        self.clock = clock
        self._next_backlog_check = 0.0
        self._pending: queue.Queue[Callable[[], object]] = queue.Queue(_PENDING_LIMIT)
        self._thread = threading.Thread(target=self._deliver, name="rqstack-alerts", daemon=True)
        self._thread.start()

    def missed(self, fires: tuple[MissedFire, ...]) -> None:
        """Report schedules whose misfire policy dropped fires (called by the scheduler's tick)."""
        for fire in fires:
            info = {
                "schedule": fire.schedule,
                "job": fire.job,
                "missed": fire.count,
                "fire_time": fire.fire_time,
            }
            self._submit(
                functools.partial(dispatch_job_event, self.connection, self.settings, "missed", info)
            )

    def after_tick(self) -> None:
        """Check queue depths against RQSTACK_BACKLOG_THRESHOLD, at most once per ``backlog_every``."""
        if self.settings.backlog_threshold is None or self.clock() < self._next_backlog_check:
            return
        self._next_backlog_check = self.clock() + self.backlog_every
        self._submit(functools.partial(check_backlog, self.connection, self.settings))

    def _submit(self, send: Callable[[], object]) -> None:
        try:
            self._pending.put_nowait(send)
        except queue.Full:
            logger.warning("alert dropped: %d alerts are already waiting to be sent", _PENDING_LIMIT)

    def _deliver(self) -> None:
        while True:
            send = self._pending.get()
            try:
                send()
            except Exception:  # an alert must never stop the thread that sends the next one
                logger.exception("scheduler alert could not be sent")
            finally:
                self._pending.task_done()

    def wait_idle(self) -> None:
        """Block until every submitted alert was attempted (tests, shutdown)."""
        self._pending.join()
