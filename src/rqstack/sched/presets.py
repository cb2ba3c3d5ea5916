"""Ready-made schedules for the built-in jobs (backup, cleanup, report), installed idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rqstack.errors import AlreadyExists, BadInput
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore

PRESET_OWNER = "preset"


@dataclass(frozen=True)
class Preset:
    """A named schedule template; its time zone is filled in at install time (RQSTACK_TIMEZONE)."""

    name: str
    job: str
    cron: str
    description: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    timeout: float | None = None
    retry: int | None = None
    retry_interval: tuple[float, ...] | None = None
    #: Environment the job needs to do anything useful; `presets list` and `install` point it out.
    needs: tuple[str, ...] = ()

    def schedule(self, timezone: str) -> Schedule:
        """The schedule this preset installs in ``timezone``."""
        return Schedule(
            name=self.name,
            job=self.job,
            cron=self.cron,
            timezone=timezone,
            kwargs=dict(self.kwargs),
            timeout=self.timeout,
            retry=self.retry,
            retry_interval=self.retry_interval,
            misfire="once",
            overlap="skip",
            description=self.description,
            owner=PRESET_OWNER,
        )


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="nightly-backup",
            job="backup.postgres",
            cron="0 3 * * *",
            description="pg_dump of DATABASE_URL every night at 03:00, kept 14 days",
            kwargs=(("keep_days", 14),),
            timeout=3600.0,
            retry=2,
            retry_interval=(300.0,),
            needs=("DATABASE_URL",),
        ),
        Preset(
            name="weekly-cleanup",
            job="maintenance.cleanup",
            cron="0 1 * * 0",
            description="Sundays 01:00: delete job data, run history and backups older than 30 days",
            kwargs=(("keep_days", 30),),
        ),
        Preset(
            name="daily-report",
            job="report.daily",
            cron="0 23 * * *",
            description="23:00 daily: runs, failures and durations of the last 24 h to the alert channels",
            kwargs=(("hours", 24),),
            needs=("RQSTACK_SLACK_WEBHOOK_URL | RQSTACK_ALERT_WEBHOOK_URL | RQSTACK_SMTP_URL",),
        ),
    )
}


@dataclass(frozen=True)
class PresetChange:
    """What installing one preset did: ``created``, ``updated`` or ``unchanged``."""

    name: str
    action: str
    schedule: Schedule

    def as_dict(self) -> dict[str, Any]:
        """JSON form for `presets install --json`."""
        return {"name": self.name, "action": self.action, "schedule": self.schedule.as_dict()}


def preset_names(names: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The asked-for presets in the order given (all when none); BadInput for an unknown name."""
    unknown = [name for name in names if name not in PRESETS]
    if unknown:
        raise BadInput(
            f"no preset named {', '.join(repr(n) for n in unknown)}; nothing was installed; "
            f"presets are: {', '.join(PRESETS)} (see `rqstack presets list`)",
            field="name",
        )
    return list(dict.fromkeys(names)) if names else list(PRESETS)


def preset_status(store: ScheduleStore, name: str) -> str:
    """``installed``, ``modified`` (differs from the preset), ``not installed`` or ``taken by <owner>``."""
    current = store.find(name)
    if current is None:
        return "not installed"
    if current.owner != PRESET_OWNER:
        return f"taken by {current.owner}"
    wanted = PRESETS[name].schedule(current.timezone)
    return "installed" if _same(current, wanted) else "modified"


def install_presets(
    store: ScheduleStore, names: list[str] | tuple[str, ...] = (), *, timezone: str
) -> list[PresetChange]:
    """Create or refresh the presets; refuse all of them when any name belongs to another owner."""
    wanted = [PRESETS[name].schedule(timezone) for name in preset_names(names)]
    for schedule in wanted:
        schedule.validate()  # every check before the first write: a bad preset writes nothing
    current = {schedule.name: store.find(schedule.name) for schedule in wanted}
    taken = {name: found.owner for name, found in current.items() if found and found.owner != PRESET_OWNER}
    if taken:
        owners = ", ".join(f"{name!r} (owner {owner})" for name, owner in taken.items())
        raise AlreadyExists(
            f"schedule name(s) {owners} already exist and are not presets; no preset was installed; "
            "remove or rename yours (`rqstack cron remove NAME`) or install only the other presets",
            field="name",
        )
    changes = []
    for schedule in wanted:
        existing = current[schedule.name]
        if existing is None:
            # create, not upsert: a schedule made meanwhile by someone else is refused, not overwritten.
            changes.append(PresetChange(schedule.name, "created", store.create(schedule)))
            continue
        # A user who disabled a preset keeps it disabled across re-installs.
        schedule = schedule.replace(enabled=existing.enabled)
        if _same(existing, schedule):
            changes.append(PresetChange(schedule.name, "unchanged", existing))
        else:
            saved, _ = store.upsert(schedule)
            changes.append(PresetChange(schedule.name, "updated", saved))
    return changes


def _same(current: Schedule, wanted: Schedule) -> bool:
    ignore = ("enabled",)
    left = {k: v for k, v in current.definition().items() if k not in ignore}
    right = {k: v for k, v in wanted.definition().items() if k not in ignore}
    return left == right
