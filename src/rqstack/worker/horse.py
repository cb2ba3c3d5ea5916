"""Isolation mode: a forked child ("horse") that runs jobs sent over a pipe and is reused.

RQ forks one horse per job (~70 jobs/s); here one horse serves many jobs and is replaced after
``max_jobs`` runs, when it dies, or when the worker kills it for a timeout or a cancel. A job that
segfaults, leaks memory or blocks in C code cannot take the worker down with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import random
import signal
import time
from collections.abc import Callable
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

import redis
from rq.job import Job

from rqstack.serializer import blank_job
from rqstack.worker.execute import Outcome, run_job, timeout_message

logger = logging.getLogger(__name__)

#: Asked every 0.1 s with the job id: ``canceled`` or ``requeue`` to stop the job, None to go on.
Interruption = Callable[[str], str | None]


class HorseDied(Exception):
    """The horse exited or was killed while running a job."""


class Horse:
    """One reusable child process; ``run`` sends a job, ``wait`` collects its Outcome."""

    def __init__(self, connection: redis.Redis, max_jobs: int) -> None:
        self.connection = connection
        self.max_jobs = max_jobs
        self.pid: int | None = None
        self.jobs_done = 0
        self._conn: Connection | None = None

    @property
    def alive(self) -> bool:
        """True while a started horse has not been stopped or killed."""
        return self.pid is not None

    def start(self) -> int:
        """Fork the horse; its pid."""
        parent_end, child_end = Pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which leaves with os._exit
            parent_end.close()
            code = 0
            try:
                _serve(self.connection, child_end, self.max_jobs)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child_end.close()
        self._conn = parent_end
        self.pid = pid
        self.jobs_done = 0
        logger.debug("horse %s started", pid)
        return pid

    def send(self, job_id: str, fields: dict[bytes, bytes]) -> None:
        """Hand a claimed job (its id and raw hash) to the horse."""
        assert self._conn is not None
        self._conn.send((job_id, fields))

    def run(self, job: Job, raw: dict[bytes, bytes], deadline: float, interruption: Interruption) -> Outcome:
        """Run ``job`` in the horse; kill it when ``interruption`` says so or at ``deadline`` (monotonic)."""
        self.send(job.id, raw)
        while True:
            try:
                outcome = self.wait(0.1)
            except HorseDied as exc:
                return Outcome(
                    "failed",
                    exc_string=f"HorseDied: the process running job {job.id} {exc} (crash, out of memory "
                    "or killed); the attempt failed; check the job for native crashes or memory use",
                )
            if outcome is not None:
                return outcome
            reason = interruption(job.id)
            if reason is not None:
                self.kill()
                return Outcome(reason)
            if time.monotonic() >= deadline:
                self.kill()
                return Outcome("failed", exc_string=timeout_message(job))

    def wait(self, timeout: float) -> Outcome | None:
        """The outcome if it arrives within ``timeout`` seconds, else None; HorseDied if the horse is gone."""
        assert self._conn is not None
        try:
            if not self._conn.poll(timeout):
                return None
            kind, result, exc_string, retryable = self._conn.recv()
        except (EOFError, OSError):
            status = self._reap()
            raise HorseDied(status) from None
        self.jobs_done += 1
        if self.jobs_done >= self.max_jobs:
            self.stop()
        return Outcome(kind, result, exc_string, retryable)

    def kill(self) -> None:
        """SIGKILL the horse (a job over its timeout, canceled, or interrupted by shutdown)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()

    def stop(self) -> None:
        """Ask an idle horse to exit and wait for it."""
        if self._conn is not None and self.pid is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._reap()

    def _reap(self) -> str:
        status = "exited"
        if self.pid is not None:
            try:
                _, raw = os.waitpid(self.pid, 0)
                if os.WIFSIGNALED(raw):
                    status = f"was killed by signal {signal.Signals(os.WTERMSIG(raw)).name}"
                else:
                    status = f"exited with code {os.WEXITSTATUS(raw)}"
            except ChildProcessError:
                pass
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self.pid = None
        return status


def _serve(connection: redis.Redis, conn: Connection, max_jobs: int) -> None:  # pragma: no cover - child
    random.seed()
    _die_with_parent()
    # The worker decides about shutdown; Ctrl-C reaching the whole process group must not kill a job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A fresh pool: the parent's may have been locked by another thread at fork time.
    pool = connection.connection_pool
    client = redis.Redis(
        connection_pool=type(pool)(connection_class=pool.connection_class, **pool.connection_kwargs)
    )
    for _ in range(max_jobs):
        try:
            message: Any = conn.recv()
        except (EOFError, OSError):
            return  # the worker is gone
        if message is None:
            return
        job_id, fields = message
        job = blank_job(job_id, client)
        job.restore(fields)
        outcome = run_job(job)
        conn.send((outcome.kind, outcome.result_b64, outcome.exc_string, outcome.retryable))


def _die_with_parent() -> None:  # pragma: no cover - child
    # A SIGKILLed worker must not leave its horse running a job the reaper is about to retry elsewhere.
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        logger.debug("PR_SET_PDEATHSIG unavailable; an orphaned horse ends when it next reads its pipe")
