"""How a worker is told to stop: SIGTERM/SIGINT (graceful, then forced), SIGALRM deadlines, RQ commands.

In-process jobs run in the main thread, so the handlers raise into the job itself: WorkerShutdown
when the grace period is over or a second signal came, JobCanceled for ``rqstack job cancel``,
JobTimeoutException at the job's deadline. One ITIMER_REAL carries the earliest of those deadlines.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from rq.timeouts import JobTimeoutException

from rqstack.worker.claims import Claimed
from rqstack.worker.execute import JobCanceled, WorkerShutdown
from rqstack.worker.horse import Horse
from rqstack.worker.options import WorkerOptions

logger = logging.getLogger(__name__)


class StopControl:
    """Signal and command handling of FastWorker (a mixin: the worker owns the state it reads)."""

    name: str
    options: WorkerOptions
    _current: Claimed | None
    _in_job: bool
    _job_deadline: float
    _stop_at: float | None
    _force: bool
    _cancel: set[str]
    _horse: Horse | None

    def _install_signals(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            # Signals reach only the main thread: an embedded worker has no in-process timeouts.
            logger.warning(
                "worker %s runs outside the main thread: job timeouts and SIGTERM are off", self.name
            )
            return previous
        for signum, handler in (
            (signal.SIGTERM, self._on_stop_signal),
            (signal.SIGINT, self._on_stop_signal),
            (signal.SIGALRM, self._on_alarm),
        ):
            previous[signum] = signal.signal(signum, handler)
        return previous

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_at is None:
            self._stop_at = time.monotonic() + self.options.shutdown_grace
            logger.info(
                "worker %s: %s received; finishing the current job (up to %ss), then exiting; send it again "
                "to requeue the job and exit now",
                self.name,
                signal.Signals(signum).name,
                self.options.shutdown_grace,
            )
            if self._in_job:
                self._arm()
            return
        self._force = True
        if self._in_job:
            raise WorkerShutdown()

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if not self._in_job:
            return
        now = time.monotonic()
        current = self._current
        if self._force or (self._stop_at is not None and now >= self._stop_at):
            raise WorkerShutdown()
        if current is not None and current.job.id in self._cancel:
            raise JobCanceled()
        if now >= self._job_deadline:
            raise JobTimeoutException(
                f"job exceeded its timeout of {current.job.timeout if current else '?'}s"
            )
        self._arm()

    def _arm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        deadline = min(self._job_deadline, self._stop_at if self._stop_at is not None else float("inf"))
        if deadline != float("inf"):
            signal.setitimer(signal.ITIMER_REAL, max(0.001, deadline - time.monotonic()))

    def _on_command(self, message: dict[str, Any]) -> None:
        try:
            payload = json.loads(message["data"])
        except (TypeError, ValueError):
            return
        command = payload.get("command")
        if command == "shutdown":
            os.kill(os.getpid(), signal.SIGTERM)
        elif command in ("stop-job", "kill-horse"):
            job_id = payload.get("job_id") or (self._current.job.id if self._current else None)
            if not job_id:
                return
            self._cancel.add(str(job_id))
            current = self._current
            if current is not None and current.job.id == job_id and self._horse is None:
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)
