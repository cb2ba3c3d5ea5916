"""rqstack's default worker: RQ's data model, one Lua round trip per batch, jobs run in-process.

Per batch, one Lua call finishes the previous batch's successes (status, result stream, finished
registry, worker stats) and claims the next jobs (pop, status started, started registry, execution
record). The batch grows while jobs are fast; when one runs past 0.1 s the heartbeat thread records
the finishes held so far and gives the rest of the batch back to the queue head, so a long job never
holds queued work hostage. ``isolated=True`` runs jobs in a reused forked horse instead;
``max_batch=1`` (``--batch 1``) keeps RQ's one-at-a-time. Before calling a job the worker marks it
begun in its journal (journal.py), so after a SIGKILL the reaper fails or retries only the job that
was running, puts the claimed jobs that never began back, and records the ones that had returned.

Timeouts in-process: SIGALRM raises JobTimeoutException in the job (it runs in the main thread);
code blocked in C past its deadline is only stopped once it returns to Python - use ``--isolated``
for jobs that may hang in C (see control.py). SIGTERM/SIGINT: stop claiming, let the running job
finish within the grace period, else put it back at the front of its queue; a second signal does
that at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import redis
from rq.job import Job
from rq.timeouts import JobTimeoutException

from rqstack import redis_direct
from rqstack.constants import (
    DEFAULT_JOB_TIMEOUT_SECONDS,
    RQ_PUBSUB_CHANNEL_PREFIX,
    RQ_QUEUE_KEY_PREFIX,
    RQ_WORKER_KEY_PREFIX,
)
from rqstack.settings import Settings
from rqstack.worker import journal, outcomes, registration
from rqstack.worker.bookkeeping import settle_canceled, settle_requeue, still_claimed
from rqstack.worker.claims import Claimed, Claimer, after_success
from rqstack.worker.control import StopControl
from rqstack.worker.execute import JobCanceled, Outcome, WorkerShutdown, run_job, timeout_message
from rqstack.worker.horse import Horse
from rqstack.worker.options import WorkerOptions
from rqstack.worker.reaper import reap_if_due

logger = logging.getLogger(__name__)

#: Flush finished jobs at least this often even inside a batch, so results show up promptly.
FLUSH_AFTER_SECONDS = 0.02
#: The heartbeat thread records finishes the main thread has held this long (a slow job is running).
STALE_FINISH_SECONDS = 0.1
#: A job slower than this drops the batch size back to one.
SLOW_JOB_SECONDS = 0.05


class FastWorker(StopControl):
    """A worker process listening on ``queue_names`` in priority order."""

    def __init__(
        self,
        connection: redis.Redis,
        queue_names: Sequence[str],
        *,
        name: str | None = None,
        options: WorkerOptions | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.connection = connection
        self.queue_names = list(queue_names)
        self.name = name or uuid4().hex
        self.key = RQ_WORKER_KEY_PREFIX + self.name
        self.options = options or WorkerOptions()
        self.settings = settings
        self._claimer = Claimer(connection, self.name, self.queue_names, self.options.heartbeat_ttl)
        self._batch = 1
        self._buffer: deque[Claimed] = deque()
        self._pending: list[tuple[Claimed, str]] = []
        self._pending_since = 0.0
        #: The latest success not yet in Redis nor in the journal: (execution id, result).
        self._returned: tuple[str, str] | None = None
        self._current: Claimed | None = None
        self._began = 0.0
        self._in_job = False
        self._job_deadline = float("inf")
        self._stop_at: float | None = None
        self._force = False
        self._cancel: set[str] = set()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._horse = Horse(connection, self.options.horse_max_jobs) if self.options.isolated else None
        self.processed = 0

    # --- lifecycle --------------------------------------------------------------------------
    def work(self, burst: bool = False) -> bool:
        """Run jobs until SIGTERM (or, with ``burst``, until the queues are empty); True if any ran."""
        previous = self._install_signals()
        self._register()
        logger.info("worker %s (%s) listening on %s", self.name, self._mode, ", ".join(self.queue_names))
        beat = threading.Thread(target=self._heartbeat_loop, name="rqstack-heartbeat", daemon=True)
        pubsub = self.connection.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(**{RQ_PUBSUB_CHANNEL_PREFIX + self.name: self._on_command})
        listener = pubsub.run_in_thread(sleep_time=0.25, daemon=True, exception_handler=_pubsub_error)
        beat.start()
        try:
            self._loop(burst)
        finally:
            self._done.set()
            listener.stop()
            # Wakes the listener's blocking read so it sees the stop now, not after its poll timeout.
            self.connection.publish(RQ_PUBSUB_CHANNEL_PREFIX + self.name, '{"command": "wake"}')
            self._shutdown()
            # Joined so no thread outlives work(): tests and embedding programs get a quiet process.
            listener.join(timeout=2)
            beat.join(timeout=5)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self.processed > 0

    @property
    def _mode(self) -> str:
        return "isolated" if self._horse else "in-process"

    def _register(self, *, again: bool = False) -> None:
        registration.register_birth(
            self.connection, self.name, self.queue_names, self.options.heartbeat_ttl, self._mode, again=again
        )

    def _shutdown(self) -> None:
        self._flush()
        self._release_buffer()
        if self._horse is not None:
            self._horse.stop()
        registration.register_death(self.connection, self.name, self.queue_names)
        logger.info("worker %s stopped after %s jobs", self.name, self.processed)

    # --- main loop --------------------------------------------------------------------------
    def _loop(self, burst: bool) -> None:
        pre: tuple[str, str] | None = None
        delay = 0.5
        while self._stop_at is None:
            try:
                pre, more = self._step(burst, pre)
                delay = 0.5
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                logger.warning(
                    "worker %s lost Redis (%s); retrying in %ss; if this lasts, the jobs it holds are "
                    "retried or failed by another worker's reaper",
                    self.name,
                    exc,
                    delay,
                )
                time.sleep(delay)
                delay = min(5.0, delay * 2)
                continue
            if not more:
                break
        if pre is not None:  # popped while waiting, then told to stop: it goes back to the head
            self.connection.lpush(RQ_QUEUE_KEY_PREFIX + pre[0], pre[1])

    def _step(self, burst: bool, pre: tuple[str, str] | None) -> tuple[tuple[str, str] | None, bool]:
        """Claim work or run one claimed job; (id popped while waiting, whether to go on)."""
        if not self._buffer:
            got = self._claim(pre)
            if got or self._stop_at is not None:
                return None, True
            if burst:
                return None, False
            return self._wait_for_work(), True
        with self._lock:
            if not self._buffer:  # the heartbeat thread gave them back meanwhile
                return None, True
            claimed = self._buffer.popleft()
            returned, self._returned = self._returned, None
        if self._given_back(claimed):
            with self._lock:
                self._returned = self._returned or returned
            return None, True
        try:
            journal.write_begun(self.connection, self.name, claimed.ref.execution_id, returned)
        except BaseException:
            with self._lock:  # not begun: it stays first in line
                self._buffer.appendleft(claimed)
                self._returned = self._returned or returned
            raise
        began = time.monotonic()
        outcome = self._perform(claimed)
        elapsed = time.monotonic() - began
        self.processed += 1
        self._settle(claimed, outcome, elapsed)
        if elapsed > SLOW_JOB_SECONDS:
            self._batch = 1
            self._flush()
        elif self._pending and time.monotonic() - self._pending_since > FLUSH_AFTER_SECONDS:
            self._flush()
        return None, True

    def _given_back(self, claimed: Claimed) -> bool:
        """Whether a reaper settled ``claimed`` while this worker was stalled (SIGSTOP, a paused VM).

        It took this worker for dead: a held job went back to its queue (another worker may run it
        already), a begun one was retried or failed. Only a claim older than the heartbeat TTL can
        have been taken, since the heartbeat keeps younger ones, so only those cost a round trip.
        """
        if time.time() - claimed.started <= self.options.heartbeat_ttl:
            return False
        if still_claimed(self.connection, claimed.ref.queue, claimed.ref.composite):
            return False
        logger.warning(
            "job %s of queue %s was settled by a reaper while this worker was stalled past its "
            "heartbeat TTL; this worker leaves it alone",
            claimed.job.id,
            claimed.ref.queue,
        )
        return True

    def _claim(self, pre: tuple[str, str] | None, limit: int | None = None) -> bool:
        """Finish pending successes and claim up to a batch of jobs in one round trip."""
        now = datetime.now(UTC)
        with self._lock:
            pending, self._pending = self._pending, []
            returned = self._returned
            if pending and returned is not None and pending[-1][0].ref.execution_id == returned[0]:
                self._returned = None  # this call records it
        try:
            claimed, with_dependents, stale = self._claimer.run(
                pending, pre, self._batch if limit is None else limit, now
            )
        except BaseException:
            with self._lock:  # not recorded: they go with the next call
                self._pending[:0] = pending
            raise
        for job_id in stale:
            logger.warning(
                "job %s returned after a reaper had settled it (this worker was stalled past its "
                "heartbeat TTL); its success is not recorded",
                job_id,
            )
        done = [(c.job, c.ref.queue, c.started) for c, _ in pending if c.job.id not in stale]
        after_success(self.connection, self.settings, self.name, done, now, with_dependents)
        released = bool(with_dependents)
        with self._lock:
            self._buffer.extend(claimed)
        if claimed and self._batch < self.options.max_batch:
            self._batch = min(self.options.max_batch, self._batch * 2)
        # Dependents released by this call are new work even when nothing was claimed.
        return bool(claimed) or released

    def _release_buffer(self) -> None:
        """Put claimed jobs that have not started back at the head of their queues, in order."""
        with self._lock:
            waiting = list(self._buffer)
            self._buffer.clear()
        waiting = [claimed for claimed in waiting if not self._given_back(claimed)]
        if waiting:
            now = datetime.now(UTC)
            with self.connection.pipeline() as pipe:
                for claimed in reversed(waiting):  # LPUSH in reverse keeps the queue order
                    if claimed.job.id in self._cancel:
                        settle_canceled(
                            pipe, claimed.job, claimed.ref, self.name, started=claimed.started, now=now
                        )
                    else:
                        settle_requeue(pipe, claimed.job, claimed.ref, self.name)
                pipe.execute()
            self._cancel.difference_update(c.job.id for c in waiting)

    def _flush(self) -> None:
        if self._pending:
            self._claim(None, limit=0)

    def _wait_for_work(self) -> tuple[str, str] | None:
        """Block until a queue has a job; with several queues the popped id is handed to the claim."""
        keys = [RQ_QUEUE_KEY_PREFIX + q for q in self.queue_names]
        idle = ("HSET", self.key, "state", "idle")
        wait = self.options.idle_wait
        if len(keys) == 1:
            # Moving the head onto itself blocks until the list is non-empty without taking the job,
            # so a crash here loses nothing; the claim script pops it atomically. The idle mark goes
            # in the same round trip.
            redis_direct.execute_many(
                self.connection, [idle, ("BLMOVE", keys[0], keys[0], "LEFT", "LEFT", wait)]
            )
            return None
        popped: list[bytes] | None = redis_direct.execute_many(
            self.connection, [idle, ("BLPOP", *keys, wait)]
        )[1]
        if not popped:
            return None
        return popped[0].decode().removeprefix(RQ_QUEUE_KEY_PREFIX), popped[1].decode()

    # --- running one job --------------------------------------------------------------------
    def _perform(self, claimed: Claimed) -> Outcome:
        job = claimed.job
        if job.id in self._cancel:
            return Outcome("canceled")
        timeout = job.timeout if job.timeout is not None else DEFAULT_JOB_TIMEOUT_SECONDS
        self._began = time.monotonic()
        self._job_deadline = self._began + timeout if timeout > 0 else float("inf")
        self._current = claimed
        try:
            if self._horse is not None:
                return self._perform_isolated(claimed)
            self._arm()
            self._in_job = True
            try:
                return run_job(job)
            finally:
                self._in_job = False
                if threading.current_thread() is threading.main_thread():
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except (JobCanceled, WorkerShutdown, JobTimeoutException) as exc:
            # The alarm landed just outside the job's own frames.
            return _outcome_of(exc, job)
        finally:
            self._current = None

    def _perform_isolated(self, claimed: Claimed) -> Outcome:
        horse = self._horse
        assert horse is not None
        if not horse.alive:
            self.connection.hset(self.key, "horse_pid", horse.start())
        return horse.run(claimed.job, claimed.raw, self._job_deadline, self._interruption)

    def _interruption(self, job_id: str) -> str | None:
        """What should stop the running job now: ``canceled``, ``requeue`` or nothing."""
        if job_id in self._cancel:
            return "canceled"
        if self._force or (self._stop_at is not None and time.monotonic() >= self._stop_at):
            return "requeue"
        return None

    def _settle(self, claimed: Claimed, outcome: Outcome, elapsed: float) -> None:
        job, ref = claimed.job, claimed.ref
        if outcome.kind == "finished":
            # A job that completed before a cancel reached it stays finished.
            self._cancel.discard(job.id)
            with self._lock:
                if not self._pending:
                    self._pending_since = time.monotonic()
                self._pending.append((claimed, outcome.result_b64))
                self._returned = (claimed.ref.execution_id, outcome.result_b64)
            return
        if self._given_back(claimed):
            self._cancel.discard(job.id)
            return
        now = datetime.now(UTC)
        canceled = outcome.kind == "canceled" or job.id in self._cancel
        event = outcomes.record(
            self.connection, self.name, claimed, outcome, canceled=canceled, now=now, give_up=self._forced
        )
        self._cancel.discard(job.id)
        if event is None:
            logger.info("job %s put back at the front of queue %s (worker stopping)", job.id, ref.queue)
            return
        logger.info("job %s %s after %.3fs", job.id, event, elapsed)
        left = (job.retries_left or 1) - 1 if event == "retrying" else None
        outcomes.emit(
            self.connection, self.settings, self.name, event, claimed, now, outcome.exc_string or None, left
        )

    def _forced(self) -> bool:
        return self._force

    # --- heartbeat --------------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        next_beat = time.monotonic() + self.options.heartbeat
        next_reap = 0.0
        while not self._done.wait(STALE_FINISH_SECONDS):
            try:
                now = time.monotonic()
                # A slow job after fast ones must not keep their finishes unrecorded while it runs.
                if self._pending and now - self._pending_since > STALE_FINISH_SECONDS:
                    self._flush()
                # Jobs claimed with one that turned out slow go back, so idle workers can take them.
                if self._buffer and self._current is not None and now - self._began > STALE_FINISH_SECONDS:
                    self._batch = 1
                    self._release_buffer()
                if now < next_beat:
                    continue
                next_beat = now + self.options.heartbeat
                self.heartbeat()
                if now >= next_reap:
                    next_reap = now + self.options.reaper_interval
                    reap_if_due(
                        self.connection,
                        self.name,
                        self.options.reaper_interval,
                        self.settings,
                        restart_grace=self.options.heartbeat_ttl,
                    )
            except redis.RedisError as exc:
                logger.warning(
                    "worker %s heartbeat failed (%s); retrying in %ss", self.name, exc, self.options.heartbeat
                )
            except Exception:
                # Without heartbeats this worker's running jobs would be reaped as abandoned: never stop.
                logger.exception(
                    "worker %s heartbeat failed; retrying in %ss", self.name, self.options.heartbeat
                )

    def heartbeat(self) -> None:
        """Extend the worker key and every claimed job's started entry by the heartbeat TTL."""
        claimed = [c.ref for c in self._buffer]
        current = self._current
        if current is not None:
            claimed.append(current.ref)
        if not registration.heartbeat(self.connection, self.name, self.options.heartbeat_ttl, claimed):
            logger.warning("worker %s key expired while Redis was away; registering again", self.name)
            self._register(again=True)


def _outcome_of(exc: BaseException, job: Job) -> Outcome:
    if isinstance(exc, JobCanceled):
        return Outcome("canceled")
    if isinstance(exc, WorkerShutdown):
        return Outcome("requeue")
    return Outcome("failed", exc_string=timeout_message(job))


def _pubsub_error(exc: BaseException, pubsub: Any, thread: Any) -> None:
    logger.warning(
        "worker command channel failed (%s); cancel requests may be missed until it reconnects", exc
    )
    time.sleep(1)
