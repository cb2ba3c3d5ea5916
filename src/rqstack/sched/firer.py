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

from rqstack import constants, redis_direct
from rqstack.errors import RqstackError
from rqstack.redis_values import as_text
from rqstack.sched import scripts, template
from rqstack.sched.delayed import LeaseLost
from rqstack.sched.firing import (
    FirePlan,
    fire_job_id,
    grace_of,
    next_after,
    plan_fires,
)
from rqstack.sched.model import Schedule
from rqstack.sched.store import runs_key, schedule_key
from rqstack.worker.jobs.registry import get_job

logger = logging.getLogger(__name__)

#: Job templates per WRITE_TEMPLATES call (keeps one call's arguments and run time small).
_TEMPLATES_PER_CALL = 1000
_ABSENT = object()


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
    #: What, besides the due score, decides a schedule's FIRE bundle: schedules sharing it (and a
    #: due score) share one plan and one bundle, so 10k same-cron schedules cost one cron step.
    shape: tuple[Any, ...]


#: A due schedule's stored definition, plan and template stamp (plan and stamp None when cached).
_Entry = tuple[bytes, bytes | None, bytes | None]
#: What makes a stored schedule unrunnable in this process (bad data, a job it does not know).
_UNRUNNABLE = (RqstackError, ValueError, ArithmeticError, TypeError)

#: One FIRE bundle: [expected score, next score, queue, overlap, missed, due ISO,
#: [[job id suffix, fire ISO, fire unix time], ...], [name, ...]].
_Bundle = list[Any]


class Firer:
    """Turns due index entries into FIRE arguments; caches a schedule until its definition changes."""

    def __init__(self, connection: redis.Redis, batch_size: int = constants.SCHEDULER_BATCH_SIZE) -> None:
        self.connection = connection
        self.batch_size = batch_size
        self._compiled: dict[str, _Compiled] = {}
        #: Schedules sharing a plan share its parsed timing.
        self._plans: dict[bytes, _Compiled] = {}
        #: Schedules whose template Redis lost: rebuilt from the definition even if the stamp matches.
        self._rebuild: set[str] = set()
        self._version: bytes | None = None

    def due_command(self, now: datetime) -> tuple[Any, ...]:
        """The read of the due batch at ``now``; its reply goes to ``fire_due``."""
        return scripts.command(
            "due_batch",
            keys=[constants.SCHEDULE_DUE_KEY, constants.SCHEDULE_VERSION_KEY],
            args=[repr(now.timestamp()), self.batch_size],
        )

    def fire_due(self, now: datetime, fence: Sequence[str], due_reply: Any = None) -> FireCounts:
        """Fire every schedule due at ``now`` (up to one batch); ``due_reply`` if ``due_command`` ran."""
        if due_reply is None:
            due_reply = scripts.run_many(self.connection, [self.due_command(now)])[0]
        text, version = due_reply
        if not text:
            return FireCounts()
        words = as_text(text).split(" ")
        names = words[0::2]
        due = [float(score) for score in words[1::2]]
        entries = self._definitions(names, version)
        fresh: list[tuple[str, bytes, template.Built]] = []
        compiled_or_error: list[_Compiled | Exception | None] = []
        for name, entry in zip(names, entries, strict=True):
            if entry is None:  # removed between the two reads
                self.connection.zrem(constants.SCHEDULE_DUE_KEY, name)
                compiled_or_error.append(None)
                continue
            try:
                compiled_or_error.append(self._compile(name, entry, fresh))
            except _UNRUNNABLE as exc:
                compiled_or_error.append(exc)
        changed = self._write_templates(fresh) if fresh else set()
        bundles: dict[tuple[Any, ...], _Bundle] = {}
        plans: dict[tuple[Any, ...], _Bundle] = {}
        odd: list[_Bundle] = []
        missed = 0
        missed_fires: list[MissedFire] = []
        for name, score, entry, compiled in zip(names, due, entries, compiled_or_error, strict=True):
            if entry is None or name in changed:
                continue  # a schedule saved meanwhile fires from its new definition next tick
            # One schedule that cannot be turned into a job must not stop every other schedule.
            if isinstance(compiled, Exception):
                odd.append(self._unrunnable(name, score, entry[0], now, compiled))
                continue
            assert compiled is not None  # None only where entry is None
            shape = (*compiled.shape, score)
            bundle = bundles.get(shape)
            if bundle is None:
                try:
                    bundle = bundles[shape] = self._bundle(compiled, score, now, plans)
                except _UNRUNNABLE as exc:
                    odd.append(self._unrunnable(name, score, entry[0], now, exc))
                    continue
            bundle[7].append(name)
            if bundle[4]:
                missed += bundle[4]
                missed_fires.append(MissedFire(name, compiled.schedule.job, bundle[4], bundle[5]))
        reply = scripts.script(self.connection, "fire")(
            keys=[
                constants.SCHEDULE_DUE_KEY,
                constants.SCHEDULER_LEADER_KEY,
                constants.SCHEDULER_FENCE_KEY,
                constants.RQ_QUEUES_KEY,
                constants.SCHEDULE_LAST_FIRE_KEY,
            ],
            args=[
                *fence,
                now.isoformat(),
                constants.RUN_HISTORY_LIMIT,
                utcformat(now),
                constants.RQ_JOB_KEY_PREFIX,
                constants.SCHEDULE_KEY_PREFIX,
                constants.SCHEDULE_RUNS_KEY_PREFIX,
                constants.SCHEDULE_JOB_TEMPLATE_KEY_PREFIX,
                constants.RQ_QUEUE_KEY_PREFIX,
                json.dumps([*bundles.values(), *odd], separators=(",", ":")),
            ],
        )
        if reply == -1:
            raise LeaseLost()
        missing = [as_text(name) for name in reply[2]]
        for name in missing:
            # Its job template vanished (Redis lost data): compile and write it again, then retry.
            logger.warning("job template of schedule %s is missing; rewriting it", name)
            self._compiled.pop(name, None)
            self._rebuild.add(name)
        lag = now.timestamp() - min(due)
        more = len(due) >= self.batch_size or bool(missing) or bool(changed)
        return FireCounts(int(reply[0]), int(reply[1]), missed, max(0.0, lag), more, tuple(missed_fires))

    def _definitions(self, names: list[str], version: bytes | None) -> list[_Entry | None]:
        """The due schedules' stored entries: cached while no schedule was written, else from Redis."""
        if version is not None and version == self._version and all(n in self._compiled for n in names):
            return [(self._compiled[n].raw, None, None) for n in names]
        replies = redis_direct.execute_many(
            self.connection,
            [
                ("HMGET", schedule_key(name), "definition", template.PLAN_FIELD, template.STAMP_FIELD)
                for name in names
            ],
        )
        if version != self._version:
            # Something changed (or Redis was flushed): compile what fires now from what is stored.
            self._compiled.clear()
            self._plans.clear()
            self._version = version
        return [None if raw is None else (raw, plan, stamp) for raw, plan, stamp in replies]

    def _bundle(
        self, compiled: _Compiled, score: float, now: datetime, plans: dict[tuple[Any, ...], _Bundle]
    ) -> _Bundle:
        """A new, empty-named FIRE bundle for ``compiled`` due at ``score``; its plan is shared by timing."""
        schedule = compiled.schedule
        key = (*schedule.timing, schedule.misfire, grace_of(schedule), score)
        shared = plans.get(key)
        if shared is None:
            due = datetime.fromtimestamp(score, UTC)
            plan = _plan(schedule, due, now)
            shared = plans[key] = [
                repr(score),
                repr(plan.next_due.timestamp()),
                None,
                None,
                plan.missed,
                due.isoformat(),
                [[fire_job_id("", fire), fire.isoformat(), repr(fire.timestamp())] for fire in plan.fires],
                None,
            ]
        bundle = list(shared)
        bundle[2], bundle[3], bundle[7] = compiled.queue, schedule.overlap, []
        return bundle

    def _write_templates(self, fresh: list[tuple[str, bytes, template.Built]]) -> set[str]:
        """Replace the templates, plans and stamps of ``fresh`` schedules, sending what they share once.

        Returns the names whose definition was saved again since it was read: their save wrote its
        own template, and they are compiled anew on the next tick.
        """
        calls: list[tuple[Sequence[Any], Sequence[Any]]] = []
        for start in range(0, len(fresh), _TEMPLATES_PER_CALL):
            chunk = fresh[start : start + _TEMPLATES_PER_CALL]
            own = [dict(zip(built.fields[0::2], built.fields[1::2], strict=True)) for _, _, built in chunk]
            shared = dict(own[0])
            for fields in own[1:]:
                for key in [k for k, v in shared.items() if fields.get(k, _ABSENT) != v]:
                    del shared[key]
            args: list[Any] = [
                constants.SCHEDULE_JOB_TEMPLATE_KEY_PREFIX,
                constants.SCHEDULE_KEY_PREFIX,
                len(shared),
            ]
            for key, value in shared.items():
                args += (key, value)
            for (name, raw, built), fields in zip(chunk, own, strict=True):
                rest = [(k, v) for k, v in fields.items() if k not in shared]
                args += (name, template.definition_digest(raw), built.plan, built.stamp, len(rest))
                for key, value in rest:
                    args += (key, value)
            calls.append(((), args))
        changed = {
            as_text(name)
            for reply in scripts.script(self.connection, "write_templates").many(calls)
            for name in reply
        }
        for name in changed:
            self._compiled.pop(name, None)
        return changed

    def _compile(self, name: str, entry: _Entry, fresh: list[tuple[str, bytes, template.Built]]) -> _Compiled:
        raw, plan, stamp = entry
        compiled = self._compiled.get(name)
        if compiled is not None and compiled.raw == raw:
            return compiled
        if plan is not None and name not in self._rebuild:
            planned = self._planned(plan)
            if stamp is not None and as_text(stamp) == template.stamp(raw, get_job(planned.schedule.job)):
                # The store wrote this schedule's template with the definition: nothing to build.
                compiled = _Compiled(raw, planned.schedule, planned.queue, planned.shape)
                self._compiled[name] = compiled
                return compiled
        schedule = Schedule.from_dict(json.loads(raw))
        prepared = schedule.validate()
        compiled = _Compiled(raw, schedule, prepared.queue, _shape(schedule, prepared.queue))
        # Written before this tick's FIRE call, with a stamp that makes every later fire trust it.
        fresh.append((name, raw, template.build(schedule, prepared, raw)))
        self._compiled[name] = compiled
        self._rebuild.discard(name)
        return compiled

    def _planned(self, plan: bytes) -> _Compiled:
        """The timing part of a compiled schedule, read once per distinct plan."""
        planned = self._plans.get(plan)
        if planned is None:
            schedule = template.plan_schedule(plan)
            queue = schedule.queue or ""
            planned = self._plans[plan] = _Compiled(b"", schedule, queue, _shape(schedule, queue))
        return planned

    def _unrunnable(self, name: str, score: float, raw: bytes, now: datetime, exc: Exception) -> _Bundle:
        # A schedule this process cannot run (e.g. its job module is not in RQSTACK_JOBS): say so in
        # its history and move its index on, instead of retrying it in a tight loop.
        message = exc.message if isinstance(exc, RqstackError) else str(exc)
        logger.error("schedule %s cannot fire: %s", name, message)
        due = datetime.fromtimestamp(score, UTC)
        record = {
            "status": "error",
            "fire_time": due.isoformat(),
            "error": message,
            "recorded_at": now.isoformat(),
        }
        self.connection.lpush(runs_key(name), json.dumps(record))
        return [repr(score), repr(_safe_next(raw, now)), "-", "allow", 0, due.isoformat(), [], [name]]


def _shape(schedule: Schedule, queue: str) -> tuple[Any, ...]:
    return (*schedule.timing, schedule.misfire, grace_of(schedule), queue, schedule.overlap)


def _plan(schedule: Schedule, due: datetime, now: datetime) -> FirePlan:
    """``plan_fires``, without the misfire machinery when the schedule is on time (the common case)."""
    if due <= now and now - due <= timedelta(seconds=grace_of(schedule)):
        following = next_after(schedule, due)
        if following > now:
            return FirePlan((due,), 0, following)
    return plan_fires(schedule, due, now)


def _safe_next(raw: bytes, now: datetime) -> float:
    """Next fire of an unrunnable schedule if its timing still parses, else a minute from now."""
    try:
        return next_after(Schedule.from_dict(json.loads(raw)), now).timestamp()
    except (RqstackError, ValueError):
        return now.timestamp() + 60.0
