"""Fire due schedules in batches: one Lua call per batch, schedules compiled once per definition."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq.utils import utcformat

from rqstack import constants
from rqstack.errors import RqstackError
from rqstack.redis_values import as_text
from rqstack.sched import scripts
from rqstack.sched.delayed import LeaseLost
from rqstack.sched.firing import (
    FirePlan,
    build_job,
    fire_job_id,
    grace_of,
    next_after,
    plan_fires,
    template_fields,
)
from rqstack.sched.model import Schedule
from rqstack.sched.store import runs_key, schedule_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MissedFire:
    """Fires of one schedule that its misfire policy dropped in this batch."""

    schedule: str
    job: str
    count: int
    fire_time: str


@dataclass(frozen=True)
class FireCounts:
    """What one batch did."""

    fired: int = 0
    skipped: int = 0
    missed: int = 0
    lag: float = 0.0
    more: bool = False
    missed_fires: tuple[MissedFire, ...] = ()


@dataclass(frozen=True)
class _Compiled:
    raw: bytes
    schedule: Schedule
    queue: str


class Firer:
    """Turns due index entries into FIRE arguments; caches a schedule until its definition changes."""

    def __init__(self, connection: redis.Redis, batch_size: int = constants.SCHEDULER_BATCH_SIZE) -> None:
        self.connection = connection
        self.batch_size = batch_size
        self._compiled: dict[str, _Compiled] = {}
        self._version: bytes | None = None

    def fire_due(self, now: datetime, fence: Sequence[str]) -> FireCounts:
        """Fire every schedule due at ``now`` (up to one batch)."""
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(
                constants.SCHEDULE_DUE_KEY,
                "-inf",
                repr(now.timestamp()),
                start=0,
                num=self.batch_size,
                withscores=True,
            )
            pipe.get(constants.SCHEDULE_VERSION_KEY)
            due, version = pipe.execute()
        if not due:
            return FireCounts()
        names = [as_text(member) for member, _ in due]
        definitions = self._definitions(names, version)
        groups: list[list[Any]] = []
        missed = 0
        missed_fires: list[MissedFire] = []
        fresh: list[tuple[str, list[Any]]] = []
        next_cache: dict[tuple[Any, ...], datetime] = {}
        for name, (_, score), raw in zip(names, due, definitions, strict=True):
            if raw is None:  # removed between the two reads
                self.connection.zrem(constants.SCHEDULE_DUE_KEY, name)
                continue
            group, group_missed = self._group(name, float(score), raw, now, fresh, next_cache)
            groups.append(group)
            missed += group_missed
            if group_missed:
                compiled = self._compiled.get(name)
                job = compiled.schedule.job if compiled is not None else ""
                missed_fires.append(MissedFire(name, job, group_missed, str(group[6])))
        if fresh:
            with self.connection.pipeline(transaction=False) as pipe:
                for name, fields in fresh:
                    key = constants.SCHEDULE_JOB_TEMPLATE_KEY_PREFIX + name
                    pipe.delete(key)
                    pipe.hset(key, items=fields)
                pipe.execute()
        reply = scripts.script(self.connection, "fire")(
            keys=[
                constants.SCHEDULE_DUE_KEY,
                constants.SCHEDULER_LEADER_KEY,
                constants.SCHEDULER_FENCE_KEY,
                constants.RQ_QUEUES_KEY,
            ],
            args=[
                *fence,
                now.isoformat(),
                constants.RUN_HISTORY_LIMIT,
                constants.FIRE_GUARD_TTL_SECONDS,
                utcformat(now),
                constants.RQ_JOB_KEY_PREFIX,
                constants.SCHEDULE_KEY_PREFIX,
                constants.SCHEDULE_RUNS_KEY_PREFIX,
                constants.SCHEDULE_JOB_TEMPLATE_KEY_PREFIX,
                constants.FIRE_GUARD_KEY_PREFIX,
                constants.RQ_QUEUE_KEY_PREFIX,
                json.dumps(groups, separators=(",", ":")),
            ],
        )
        if reply == -1:
            raise LeaseLost()
        missing = [as_text(name) for name in reply[2]]
        for name in missing:
            # Its job template vanished (Redis lost data): compile and write it again, then retry.
            logger.warning("job template of schedule %s is missing; rewriting it", name)
            self._compiled.pop(name, None)
        lag = now.timestamp() - min(float(score) for _, score in due)
        more = len(due) >= self.batch_size or bool(missing)
        return FireCounts(int(reply[0]), int(reply[1]), missed, max(0.0, lag), more, tuple(missed_fires))

    def _definitions(self, names: list[str], version: bytes | None) -> list[bytes | None]:
        """The due schedules' definitions: from the cache while no schedule was written, else from Redis."""
        if version is not None and version == self._version and all(n in self._compiled for n in names):
            return [self._compiled[n].raw for n in names]
        with self.connection.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hget(schedule_key(name), "definition")
            definitions: list[bytes | None] = pipe.execute()
        if version != self._version:
            # Something changed (or Redis was flushed): rewrite templates of what fires now.
            self._compiled.clear()
            self._version = version
        return definitions

    def _group(
        self,
        name: str,
        score: float,
        raw: bytes,
        now: datetime,
        fresh: list[tuple[str, list[Any]]],
        next_cache: dict[tuple[Any, ...], datetime],
    ) -> tuple[list[Any], int]:
        """FIRE arguments of one due schedule and how many fires its misfire policy dropped."""
        due = datetime.fromtimestamp(score, UTC)
        try:
            compiled = self._compile(name, raw, fresh)
            plan = _plan(compiled.schedule, due, now, next_cache)
        except (RqstackError, ValueError, ArithmeticError, TypeError) as exc:
            # One schedule that cannot be turned into a job must not stop every other schedule.
            return self._unrunnable(name, score, raw, due, now, exc), 0
        group: list[Any] = [
            name,
            repr(score),
            repr(plan.next_due.timestamp()),
            compiled.queue,
            compiled.schedule.overlap,
            plan.missed,
            due.isoformat(),
            [[fire_job_id(name, fire), fire.isoformat()] for fire in plan.fires],
        ]
        return group, plan.missed

    def _compile(self, name: str, raw: bytes, fresh: list[tuple[str, list[Any]]]) -> _Compiled:
        compiled = self._compiled.get(name)
        if compiled is not None and compiled.raw == raw:
            return compiled
        schedule = Schedule.from_dict(json.loads(raw))
        prepared = schedule.validate()
        fields = template_fields(build_job(self.connection, prepared), prepared.queue)
        compiled = _Compiled(raw, schedule, prepared.queue)
        # Written before this tick's FIRE call; each process rewrites it once after it starts.
        fresh.append((name, fields))
        self._compiled[name] = compiled
        return compiled

    def _unrunnable(
        self, name: str, score: float, raw: bytes, due: datetime, now: datetime, exc: Exception
    ) -> list[Any]:
        # A schedule this process cannot run (e.g. its job module is not in RQSTACK_JOBS): say so in
        # its history and move its index on, instead of retrying it in a tight loop.
        message = exc.message if isinstance(exc, RqstackError) else str(exc)
        logger.error("schedule %s cannot fire: %s", name, message)
        record = {
            "status": "error",
            "fire_time": due.isoformat(),
            "error": message,
            "recorded_at": now.isoformat(),
        }
        self.connection.lpush(runs_key(name), json.dumps(record))
        return [name, repr(score), repr(_safe_next(raw, now)), "-", "allow", 0, due.isoformat(), []]


def _plan(
    schedule: Schedule, due: datetime, now: datetime, next_cache: dict[tuple[Any, ...], datetime]
) -> FirePlan:
    """``plan_fires``, with the common on-time case computed once per (timing, due) in a tick."""
    if due <= now and now - due <= timedelta(seconds=grace_of(schedule)):
        key = (*schedule.timing, due)
        following = next_cache.get(key)
        if following is None:
            following = next_cache[key] = next_after(schedule, due)
        if following > now:
            return FirePlan((due,), 0, following)
    return plan_fires(schedule, due, now)


def _safe_next(raw: bytes, now: datetime) -> float:
    """Next fire of an unrunnable schedule if its timing still parses, else a minute from now."""
    try:
        return next_after(Schedule.from_dict(json.loads(raw)), now).timestamp()
    except (RqstackError, ValueError):
        return now.timestamp() + 60.0
