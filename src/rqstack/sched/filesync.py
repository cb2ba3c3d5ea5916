"""Declarative schedules: apply a TOML file (diff, dry run, prune) and export schedules as TOML."""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rqstack.durations import format_duration
from rqstack.errors import BadInput, RqstackError
from rqstack.sched.firing import next_after
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_NOT_APPLIED = "nothing was applied"


@dataclass(frozen=True)
class Change:
    """One line of the diff: create, update (with changed fields), delete or unchanged."""

    action: str
    name: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def line(self) -> str:
        """``+ name``, ``~ name: field old -> new``, ``- name`` or ``= name``."""
        mark = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}[self.action]
        if self.action != "update":
            return f"{mark} {self.name}"
        parts = [
            f"{key}: {json.dumps(old)} -> {json.dumps(new)}"
            for key, (old, new) in sorted(self.fields.items())
        ]
        return f"{mark} {self.name}: " + "; ".join(parts)


@dataclass(frozen=True)
class SyncPlan:
    """What applying a file does; nothing is written until ``apply_plan``."""

    owner: str
    schedules: tuple[Schedule, ...]
    changes: tuple[Change, ...]

    @property
    def counts(self) -> dict[str, int]:
        """How many schedules each action touches."""
        out = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
        for change in self.changes:
            out[change.action] += 1
        return out

    def lines(self) -> list[str]:
        """The diff, one change per line, unchanged ones left out."""
        return [c.line() for c in self.changes if c.action != "unchanged"]


def file_owner(path: str | Path) -> str:
    """The owner tag of schedules from ``path``: ``file:<path as given, normalized>``."""
    return "file:" + os.path.normpath(str(path))


def load_file(path: str | Path, *, default_timezone: str) -> tuple[str, list[Schedule]]:
    """Read and validate every ``[[schedule]]`` of a TOML file; BadInput naming the entry otherwise."""
    owner = file_owner(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(
            f"cannot read {path} ({exc.strerror}); {_NOT_APPLIED}; check the path", field="file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(
            f"{path} is not valid TOML ({exc}); {_NOT_APPLIED}; fix the syntax", field="file"
        ) from None
    extra = sorted(set(data) - {"schedule"})
    if extra:
        raise BadInput(
            f"{path} has unknown top-level key(s) {', '.join(extra)}; {_NOT_APPLIED}; "
            "put each schedule in a [[schedule]] table",
            field=extra[0],
        )
    entries = data.get("schedule", [])
    if not isinstance(entries, list):
        raise BadInput(f"{path}: 'schedule' must be [[schedule]] tables; {_NOT_APPLIED}", field="schedule")
    schedules: list[Schedule] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        label = f"{path}: schedule #{index}" + (f" ({entry.get('name')})" if isinstance(entry, dict) else "")
        try:
            if isinstance(entry, dict) and "owner" in entry:
                raise BadInput("'owner' is set by the file itself; remove it", field="owner")
            schedule = Schedule.from_dict({**entry, "owner": owner}, default_timezone=default_timezone)
            schedule.validate()
            # Computing the first fire now means apply cannot fail half-way on a later entry.
            next_after(schedule, datetime.now(UTC))
        except RqstackError as exc:
            raise BadInput(f"{label}: {exc.message}; {_NOT_APPLIED}", field=exc.field) from None
        if schedule.name in seen:
            raise BadInput(
                f"{label}: the name is used twice in the file; {_NOT_APPLIED}; rename one", field="name"
            )
        seen.add(schedule.name)
        schedules.append(schedule)
    return owner, schedules


def plan_sync(store: ScheduleStore, owner: str, schedules: list[Schedule], *, prune: bool) -> SyncPlan:
    """Compare the file with Redis; a name owned by someone else stops everything (BadInput)."""
    existing = {s.name: s for s in store.list()}
    changes: list[Change] = []
    for schedule in schedules:
        current = existing.get(schedule.name)
        if current is None:
            changes.append(Change("create", schedule.name))
            continue
        if current.owner != owner:
            raise BadInput(
                f"schedule {schedule.name!r} exists and is owned by {current.owner}, not {owner}; "
                f"{_NOT_APPLIED}; rename it in the file or remove the existing one "
                f"(`rqstack cron remove {schedule.name}`)",
                field="name",
            )
        old, new = current.definition(), schedule.definition()
        diff = {key: (old[key], new[key]) for key in new if old.get(key) != new[key]}
        changes.append(Change("update" if diff else "unchanged", schedule.name, diff))
    if prune:
        names = {s.name for s in schedules}
        for name, current in sorted(existing.items()):
            if current.owner == owner and name not in names:
                changes.append(Change("delete", name))
    return SyncPlan(owner, tuple(schedules), tuple(changes))


def apply_plan(store: ScheduleStore, plan: SyncPlan) -> None:
    """Write the plan's creates, updates and deletes (each schedule was validated when loaded)."""
    by_name = {s.name: s for s in plan.schedules}
    for change in plan.changes:
        if change.action in ("create", "update"):
            store.upsert(by_name[change.name])
        elif change.action == "delete":
            store.delete(change.name)


def export_toml(schedules: list[Schedule]) -> str:
    """Schedules as a TOML file that ``schedules apply`` reads back (owner shown as a comment)."""
    blocks = []
    for schedule in schedules:
        lines = [f"# owner: {schedule.owner}", "[[schedule]]"]
        for key, value in _toml_fields(schedule).items():
            lines.append(f"{key} = {_toml_value(value)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _toml_fields(schedule: Schedule) -> dict[str, Any]:
    out: dict[str, Any] = {"name": schedule.name, "job": schedule.job}
    if schedule.cron is not None:
        out["cron"] = schedule.cron
    if schedule.every is not None:
        out["every"] = format_duration(schedule.every)
    out["timezone"] = schedule.timezone
    if schedule.args:
        out["args"] = list(schedule.args)
    if schedule.kwargs:
        out["kwargs"] = dict(schedule.kwargs)
    if schedule.queue is not None:
        out["queue"] = schedule.queue
    if schedule.timeout is not None:
        out["timeout"] = format_duration(schedule.timeout)
    if schedule.retry is not None:
        out["retry"] = schedule.retry
    if isinstance(schedule.retry_interval, str):
        out["retry_interval"] = schedule.retry_interval
    elif schedule.retry_interval is not None:
        out["retry_interval"] = [format_duration(i) if i >= 1 else i for i in schedule.retry_interval]
    if not schedule.enabled:
        out["enabled"] = False
    out["misfire"] = schedule.misfire
    out["misfire_grace"] = format_duration(schedule.misfire_grace) if schedule.misfire_grace >= 1 else 0
    out["overlap"] = schedule.overlap
    if schedule.description:
        out["description"] = schedule.description
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadInput(f"{value!r} cannot be written to TOML; nothing was exported")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = [f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if value is None:
        raise BadInput(
            "null has no TOML spelling; nothing was exported; drop null arguments from the schedule"
        )
    raise BadInput(f"cannot write {type(value).__name__} to TOML; nothing was exported")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)
