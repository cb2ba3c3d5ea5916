"""Schedules in Redis: hash per schedule, set of names, due-time index; every write validates first."""

from __future__ import annotations

import builtins
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from rqstack import constants
from rqstack.errors import AlreadyExists, BadInput, NotFound
from rqstack.redis_values import as_text
from rqstack.sched import scripts, template
from rqstack.sched.firing import next_after
from rqstack.sched.model import Schedule

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def schedule_key(name: str) -> str:
    """The hash of one schedule."""
    return constants.SCHEDULE_KEY_PREFIX + name


def runs_key(name: str) -> str:
    """The run history list of one schedule."""
    return constants.SCHEDULE_RUNS_KEY_PREFIX + name


@dataclass(frozen=True)
class StoredSchedule:
    """A schedule as read back, with its index and last-fire state."""

    schedule: Schedule
    next_fire: datetime | None
    last_fire: str | None
    last_job_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: the schedule's fields plus next_fire, last_fire, last_job_id."""
        return {
            **self.schedule.as_dict(),
            "next_fire": None if self.next_fire is None else self.next_fire.isoformat(),
            "last_fire": self.last_fire,
            "last_job_id": self.last_job_id,
        }


class ScheduleStore:
    """Create, read, change and delete schedules; changes reach the scheduler on its next tick."""

    def __init__(
        self,
        connection: redis.Redis,
        *,
        default_timezone: str = constants.DEFAULT_TIMEZONE,
        clock: Clock = _utcnow,
    ) -> None:
        self.connection = connection
        self.default_timezone = default_timezone
        self.clock = clock

    def create(self, schedule: Schedule) -> Schedule:
        """Save a new schedule; AlreadyExists when the name is taken."""
        saved = self._save("create", schedule, None)
        if saved is None:
            raise AlreadyExists(
                f"schedule {schedule.name!r} already exists; nothing was changed; pick another name, "
                f"or change it with `rqstack cron remove {schedule.name}` first",
                field="name",
            )
        return saved

    def upsert(self, schedule: Schedule) -> tuple[Schedule, bool]:
        """Create or replace (idempotent); returns the stored schedule and whether it was created."""
        existing = self.find(schedule.name)
        saved = self._save("upsert", schedule, existing)
        assert saved is not None
        return saved, existing is None

    def update(self, name: str, changes: Mapping[str, Any]) -> Schedule:
        """Change some fields (PATCH); the result is validated as a whole before anything is written."""
        current = self.get(name)
        protected = {"name", "created_at", "updated_at"} & set(changes)
        if "name" in protected and changes["name"] == name:
            protected.discard("name")
        if protected:
            raise BadInput(
                f"field(s) {', '.join(sorted(protected))} cannot be changed; the schedule was not saved; "
                "to rename, create a new schedule and remove the old one",
                field=sorted(protected)[0],
            )
        merged = {**current.as_dict(), **changes}
        if "cron" in changes and changes["cron"] is not None and "every" not in changes:
            merged["every"] = None
        if "every" in changes and changes["every"] is not None and "cron" not in changes:
            merged["cron"] = None
        schedule = Schedule.from_dict(merged, default_timezone=self.default_timezone)
        saved = self._save("update", schedule, current)
        if saved is None:
            raise NotFound(f"schedule {name!r} was removed meanwhile; nothing was changed")
        return saved

    def set_enabled(self, name: str, enabled: bool) -> Schedule:
        """Enable (fires from now on, missed fires are not replayed) or disable a schedule."""
        return self.update(name, {"enabled": enabled})

    def get(self, name: str) -> Schedule:
        """The schedule ``name``; NotFound otherwise."""
        found = self.find(name)
        if found is None:
            raise NotFound(
                f"no schedule named {name!r}; nothing was done; see `rqstack cron list` for the names",
                field="name",
            )
        return found

    def find(self, name: str) -> Schedule | None:
        """The schedule ``name`` or None."""
        raw = self.connection.hget(schedule_key(name), "definition")
        return None if raw is None else _decode(raw)

    def get_stored(self, name: str) -> StoredSchedule:
        """The schedule with its next fire and last fire; NotFound otherwise."""
        found = self.list_stored([name])
        if not found:
            self.get(name)
        return found[0]

    def names(self) -> builtins.list[str]:
        """Every schedule name, sorted."""
        return sorted(as_text(n) for n in self.connection.smembers(constants.SCHEDULE_NAMES_KEY))

    def list(self) -> list[Schedule]:
        """Every schedule, sorted by name."""
        return [stored.schedule for stored in self.list_stored()]

    def list_stored(self, names: builtins.list[str] | None = None) -> builtins.list[StoredSchedule]:
        """Schedules with their index state and last fire, in two round trips."""
        names = self.names() if names is None else names
        with self.connection.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hmget(schedule_key(name), "definition", "last_fire", "last_job_id")
                pipe.zscore(constants.SCHEDULE_DUE_KEY, name)
                pipe.hget(constants.SCHEDULE_LAST_FIRE_KEY, name)
            replies = pipe.execute()
        out = []
        for index in range(0, len(replies), 3):
            (raw, last_fire, last_job), score, last = replies[index : index + 3]
            if raw is None:
                continue
            if last is not None:  # "<unix time> <job id> <fire ISO>"; older versions wrote the hash fields
                _, last_job, last_fire = last.split(b" ", 2)
            out.append(
                StoredSchedule(
                    _decode(raw),
                    None if score is None else datetime.fromtimestamp(float(score), UTC),
                    None if last_fire is None else last_fire.decode(),
                    None if last_job is None else last_job.decode(),
                )
            )
        return out

    def delete(self, name: str) -> None:
        """Remove a schedule, its index entry and its history; NotFound when it does not exist."""
        existed = scripts.script(self.connection, "delete_schedule")(
            keys=[
                schedule_key(name),
                constants.SCHEDULE_NAMES_KEY,
                constants.SCHEDULE_DUE_KEY,
                runs_key(name),
                constants.SCHEDULE_JOB_TEMPLATE_KEY_PREFIX + name,
                constants.SCHEDULE_VERSION_KEY,
                constants.SCHEDULE_LAST_FIRE_KEY,
            ],
            args=[name, _version_start()],
        )
        if not existed:
            self.get(name)

    def next_due(self, name: str) -> datetime | None:
        """When the scheduler will fire ``name`` next (None when disabled)."""
        score = self.connection.zscore(constants.SCHEDULE_DUE_KEY, name)
        return None if score is None else datetime.fromtimestamp(float(score), UTC)

    def history(self, name: str, limit: int = constants.RUN_HISTORY_LIMIT) -> builtins.list[dict[str, Any]]:
        """Run records, newest first, with start/end/status read from the RQ job where it still exists."""
        from rqstack.sched.history import enrich_runs

        raw = self.connection.lrange(runs_key(name), 0, max(0, limit - 1))
        return enrich_runs(self.connection, [json.loads(item) for item in raw])

    def _save(self, mode: str, schedule: Schedule, existing: Schedule | None) -> Schedule | None:
        if schedule.timezone == "":
            schedule = schedule.replace(timezone=self.default_timezone)
        prepared = schedule.validate()
        now = self.clock()
        created = existing.created_at if existing is not None and existing.created_at else now
        schedule = schedule.replace(created_at=created, updated_at=now)
        keep = existing is not None and existing.enabled and existing.timing == schedule.timing
        due = "" if not schedule.enabled else repr(next_after(schedule, now).timestamp())
        definition = json.dumps(schedule.as_dict(), separators=(",", ":")).encode()
        # The job template is written with the definition, so the scheduler's first fire only copies it.
        built = template.build(schedule, prepared, definition)
        result = scripts.script(self.connection, "save_schedule")(
            keys=[
                schedule_key(schedule.name),
                constants.SCHEDULE_NAMES_KEY,
                constants.SCHEDULE_DUE_KEY,
                constants.SCHEDULE_VERSION_KEY,
                constants.SCHEDULE_JOB_TEMPLATE_KEY_PREFIX + schedule.name,
            ],
            args=[
                mode,
                schedule.name,
                definition,
                due,
                "1" if keep else "0",
                constants.SCHEDULER_WAKE_CHANNEL,
                _version_start(),
                built.plan,
                built.stamp,
                *built.fields,
            ],
        )
        if result != 1:
            return None
        logger.debug("saved schedule %s (%s)", schedule.name, mode)
        return schedule


def _version_start() -> int:
    return secrets.randbits(48)


def _decode(raw: bytes | str) -> Schedule:
    return Schedule.from_dict(json.loads(raw))
