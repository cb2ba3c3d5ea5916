"""The scheduler process: ``run()`` around ``tick(now)``; fires schedules and moves due delayed jobs."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from redis.client import PubSub

from rqstack import constants
from rqstack.sched import scripts
from rqstack.sched.delayed import (
    LeaseLost,
    finish_registries,
    finish_scheduler_set,
    registries_command,
    scheduler_set_command,
)
from rqstack.sched.firer import FireCounts, Firer, MissedFire
from rqstack.sched.leader import Lease

logger = logging.getLogger(__name__)

_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
#: Wake this long before a due instant and finish the wait with a short precise sleep.
_WAKE_EARLY = 0.002
#: While asleep, the leader rechecks the due indexes this often for entries added without a publish.
_REPOLL = 0.1
_BACKOFF_MIN, _BACKOFF_MAX = 0.05, 2.0


@dataclass(frozen=True)
class TickResult:
    """What one tick did, and when the next one is due (unix seconds)."""

    leader: bool
    paused: bool = False
    fired: int = 0
    skipped: int = 0
    missed: int = 0
    moved: int = 0
    more: bool = False
    next_due: float | None = None
    lag: float = 0.0


class Scheduler:
    """One scheduler process; any number may run, only the lease holder works, fires are exactly once."""

    def __init__(
        self,
        connection: redis.Redis,
        *,
        owner: str | None = None,
        use_lease: bool = True,
        max_sleep: float = constants.SCHEDULER_MAX_SLEEP_SECONDS,
        lease_seconds: float = constants.SCHEDULER_LEASE_SECONDS,
        batch_size: int = constants.SCHEDULER_BATCH_SIZE,
        clock: Callable[[], float] = time.time,
        on_missed: Callable[[tuple[MissedFire, ...]], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.connection = connection
        self.lease = Lease(connection, owner, lease_seconds)
        self.use_lease = use_lease
        self.max_sleep = max_sleep
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        self.firer = Firer(connection, batch_size)
        self.clock = clock
        self.on_missed = on_missed
        self.on_tick = on_tick
        self._stop = threading.Event()
        self._pubsub: PubSub | None = None

    @property
    def owner(self) -> str:
        """This process's owner token."""
        return self.lease.owner

    def tick(self, now: datetime) -> TickResult:
        """One pass at ``now``: renew the lease, move due jobs, fire due schedules, find the next due.

        Reads that do not depend on each other share a round trip: the lease renewal, the pause flag,
        the due batch and (when this process led at its last tick) the delayed-job moves come in one,
        the next due instant and the tick's state record in another. The moves are fenced by the
        lease token and skip themselves while paused, so a job due now reaches its queue on the first
        round trip of the tick that wakes for it.
        """
        previous = self.lease.token
        early = previous != 0 or not self.use_lease
        previous_fence = [self.owner, str(previous)] if self.use_lease else ["", ""]
        commands = [
            self.lease.acquire_command() if self.use_lease else ("PING",),
            ("HGET", constants.SCHEDULER_STATE_KEY, "paused"),
            self.firer.due_command(now),
        ]
        if early:
            commands += self._move_commands(now, previous_fence)
        replies = scripts.run_many(self.connection, commands)
        lease_reply, paused_flag, due_reply = replies[:3]
        if self.use_lease:
            if not self.lease.accept(lease_reply):
                if previous:
                    logger.warning("scheduler %s lost the lease; another scheduler leads now", self.owner)
                return TickResult(leader=False)
            if self.lease.token != previous:
                logger.info("scheduler %s leads (fence %s)", self.owner, self.lease.token)
        fence = self.lease.fence_args() if self.use_lease else ["", ""]
        paused = paused_flag in (b"1", "1")
        counts = FireCounts()
        moved, more = 0, False
        try:
            if not paused:
                # Fenced out with the old token (a new one was just taken): move after firing instead.
                moves = replies[3:] if early and replies[3] != -1 else None
                if moves is not None:
                    moved, more = self._finish_moves(now, fence, moves)
                counts = self.firer.fire_due(now, fence, due_reply)
                if moves is None:
                    late = scripts.run_many(self.connection, self._move_commands(now, fence))
                    moved, more = self._finish_moves(now, fence, late)
                more = more or counts.more
        except LeaseLost:
            logger.warning("scheduler %s lost the lease mid-tick; another scheduler leads now", self.owner)
            return TickResult(leader=False)
        if counts.missed_fires and self.on_missed is not None:
            self.on_missed(counts.missed_fires)
        earliest_reply, *_ = scripts.run_many(
            self.connection,
            [self._earliest_command(), *self._state_commands(now, counts.lag, counts.fired, moved)],
        )
        next_due, paused = self._read_earliest(earliest_reply)
        if self.on_tick is not None:
            self.on_tick()
        return TickResult(
            True, paused, counts.fired, counts.skipped, counts.missed, moved, more, next_due, counts.lag
        )

    def _move_commands(self, now: datetime, fence: list[str]) -> list[tuple[Any, ...]]:
        return [
            registries_command(now, fence, self.batch_size),
            scheduler_set_command(now, fence, self.batch_size),
        ]

    def _finish_moves(self, now: datetime, fence: list[str], replies: list[Any]) -> tuple[int, bool]:
        moved_registry, more_registry = finish_registries(self.connection, replies[0])
        moved_set, more_set = finish_scheduler_set(self.connection, now, fence, self.batch_size, replies[1])
        return moved_registry + moved_set, more_registry or more_set

    def _earliest(self) -> tuple[float | None, bool]:
        return self._read_earliest(scripts.run_many(self.connection, [self._earliest_command()])[0])

    @staticmethod
    def _earliest_command() -> tuple[Any, ...]:
        return scripts.command(
            "earliest",
            keys=[
                constants.SCHEDULE_DUE_KEY,
                constants.RQ_QUEUES_KEY,
                constants.RQ_SCHEDULER_JOBS_KEY,
                constants.SCHEDULER_STATE_KEY,
            ],
            args=[constants.RQ_SCHEDULED_REGISTRY_PREFIX, constants.RQ_QUEUE_KEY_PREFIX],
        )

    @staticmethod
    def _read_earliest(reply: Any) -> tuple[float | None, bool]:
        best, paused = reply
        return (None if not best else float(best)), bool(paused)

    def _state_commands(self, now: datetime, lag: float, fired: int, moved: int) -> list[tuple[Any, ...]]:
        state = constants.SCHEDULER_STATE_KEY
        commands: list[tuple[Any, ...]] = [
            (
                "HSET",
                state,
                "leader",
                self.owner,
                "fence",
                self.lease.token,
                "last_tick",
                now.isoformat(),
                "lag",
                f"{max(0.0, lag):.6f}",
            ),
            ("HINCRBY", state, "ticks_total", 1),
        ]
        if fired:
            commands.append(("HINCRBY", state, "fired_total", fired))
        if moved:
            commands.append(("HINCRBY", state, "moved_total", moved))
        return commands

    def run(self, *, burst: bool = False) -> None:
        """Tick until ``request_stop``; sleep until the next due instant, woken early by a publish."""
        backoff = _BACKOFF_MIN
        logger.info("scheduler %s starting", self.owner)
        try:
            while not self._stop.is_set():
                try:
                    result = self.tick(datetime.fromtimestamp(self.clock(), UTC))
                    if backoff > _BACKOFF_MIN:
                        logger.info("Redis answers again; scheduler %s resumes", self.owner)
                    backoff = _BACKOFF_MIN
                    if burst:
                        if result.more:
                            continue
                        return
                    if not result.more:
                        self._sleep(result)
                except _CONNECTION_ERRORS as exc:
                    if burst:
                        raise
                    logger.warning("Redis unavailable (%s); scheduler retries in %.2f s", exc, backoff)
                    self._close_pubsub()
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX)
        finally:
            self.close()

    def request_stop(self) -> None:
        """Finish the current tick, release the lease and return from ``run`` (signal-safe)."""
        self._stop.set()

    def close(self) -> None:
        """Release the lease (so a follower takes over at once) and the pub/sub connection."""
        self._close_pubsub()
        if self.use_lease and self.lease.token:
            with contextlib.suppress(*_CONNECTION_ERRORS):
                self.lease.release()
                logger.info("scheduler %s released the lease", self.owner)

    def _sleep(self, result: TickResult) -> None:
        now = self.clock()
        if not result.leader:
            limit = constants.SCHEDULER_FOLLOWER_POLL_SECONDS
        else:
            limit = min(self.max_sleep, self.lease_seconds / 3) if self.use_lease else self.max_sleep
        deadline = now + limit
        if result.next_due is not None and not result.paused:
            # Something due already (added while we moved): look again almost at once.
            deadline = min(deadline, max(result.next_due, now + 0.001))
        while result.leader and not self._stop.is_set():
            coarse = deadline - self.clock() - _WAKE_EARLY
            if coarse <= 0:
                break
            if self._wait_for_wake(min(coarse, _REPOLL)):
                return
            if coarse > _REPOLL:
                # Stock RQ and rq-scheduler producers publish no wake-up: look for earlier work ourselves.
                earliest, paused = self._earliest()
                if earliest is not None and not paused:
                    deadline = min(deadline, max(earliest, self.clock() + 0.001))
        # Precise tail: never tick before the due instant, and not more than ~0.1 ms after it.
        while (left := deadline - self.clock()) > 0 and not self._stop.is_set():
            time.sleep(left if left < 0.001 else left - 0.0005)

    def _wait_for_wake(self, timeout: float) -> bool:
        if self._pubsub is None:
            self._pubsub = self.connection.pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(constants.SCHEDULER_WAKE_CHANNEL)
        end = self.clock() + timeout
        while (left := end - self.clock()) > 0 and not self._stop.is_set():
            message = self._pubsub.get_message(timeout=left)
            if message is not None:
                while self._pubsub.get_message(timeout=0) is not None:
                    pass
                return True
        return False

    def _close_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                self._pubsub.close()
            self._pubsub = None
