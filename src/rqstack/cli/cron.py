"""`rqstack cron ...`: named schedules changed at run time, and a cron preview that needs no Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from rqstack.cli.common import (
    State,
    duration_option,
    echo_json,
    parse_iso_datetime,
    parse_json_option,
    pass_state,
)
from rqstack.durations import format_duration, parse_duration
from rqstack.errors import BadInput, InvalidCron
from rqstack.sched.control import run_now
from rqstack.sched.cron import describe_cron, fire_times, parse_cron, validate_timezone
from rqstack.sched.firing import upcoming
from rqstack.sched.model import MISFIRE_POLICIES, OVERLAP_POLICIES, Schedule, describe_timing
from rqstack.sched.store import ScheduleStore, StoredSchedule

SHOWN_FIRES = 5


def _store(state: State) -> ScheduleStore:
    return ScheduleStore(state.connection(), default_timezone=state.settings.timezone)


@click.group("cron")
def cron_group() -> None:
    """Add, change, run and inspect named schedules (changes apply on the scheduler's next tick)."""


@cron_group.command("add")
@click.argument("name")
@click.argument("job_name", metavar="JOB")
@click.option(
    "--cron",
    "cron_expr",
    metavar="EXPR",
    help="Cron expression: '0 3 * * *', '@hourly', 6 fields = seconds first.",
)
@click.option("--every", metavar="DURATION", help="Fixed interval instead of cron: 30s, 10m, 1h.")
@click.option(
    "--tz", "timezone", metavar="TZ", help="IANA time zone of the cron fields (default RQSTACK_TIMEZONE)."
)
@click.option("--queue", "-q", help="Queue name (default: the job's queue).")
@click.option("--args", "args_json", metavar="JSON", help="Positional arguments as a JSON array.")
@click.option("--kwargs", "kwargs_json", metavar="JSON", help="Keyword arguments as a JSON object.")
@click.option("--timeout", metavar="DURATION", help="Kill a run after this long: 5m.")
@click.option("--retry", type=click.IntRange(0, 100), help="Retries after a failed run.")
@click.option("--retry-interval", metavar="D,D,...", help="Waits between retries: 30s,2m.")
@click.option(
    "--misfire",
    type=click.Choice(MISFIRE_POLICIES),
    help="Fires missed beyond the grace window: skip, once (default) or all.",
)
@click.option(
    "--misfire-grace", metavar="DURATION", help="How late a fire may still run normally (default 60s)."
)
@click.option(
    "--overlap",
    type=click.Choice(OVERLAP_POLICIES),
    help="skip = no new run while the last one is queued or running.",
)
@click.option("--description", help="What the schedule is for.")
@click.option("--disabled", is_flag=True, help="Save it without firing it.")
@click.option("--replace", is_flag=True, help="Replace a schedule of the same name instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the saved schedule as JSON.")
@pass_state
def add_command(
    state: State,
    name: str,
    job_name: str,
    cron_expr: str | None,
    every: str | None,
    timezone: str | None,
    queue: str | None,
    args_json: str | None,
    kwargs_json: str | None,
    timeout: str | None,
    retry: int | None,
    retry_interval: str | None,
    misfire: str | None,
    misfire_grace: str | None,
    overlap: str | None,
    description: str | None,
    disabled: bool,
    replace: bool,
    as_json: bool,
) -> None:
    """Create schedule NAME that runs JOB on --cron EXPR or --every DURATION."""
    state.load_jobs()
    if (cron_expr is None) == (every is None):
        raise BadInput(
            "give exactly one of --cron EXPR or --every DURATION; nothing was saved; e.g. --cron '0 3 * * *'",
            field="cron",
        )
    grace = (
        None
        if misfire_grace is None
        else parse_duration(misfire_grace, field="misfire-grace", allow_zero=True)
    )
    values: dict[str, Any] = {
        "name": name,
        "job": job_name,
        "cron": cron_expr,
        "every": duration_option(every, "--every"),
        "timezone": timezone or state.settings.timezone,
        "args": parse_json_option(args_json, "--args", list),
        "kwargs": parse_json_option(kwargs_json, "--kwargs", dict),
        "queue": queue,
        "timeout": duration_option(timeout, "--timeout"),
        "retry": retry,
        "retry_interval": retry_interval or None,
        "enabled": not disabled,
        "misfire": misfire,
        "misfire_grace": grace,
        "overlap": overlap,
        "description": description,
        "owner": "cli",
    }
    schedule = Schedule.from_dict({k: v for k, v in values.items() if v is not None})
    schedule.validate()  # every check before the first connection: bad input never touches Redis
    store = _store(state)
    saved = store.upsert(schedule)[0] if replace else store.create(schedule)
    if as_json:
        echo_json(store.get_stored(saved.name).as_dict())
        return
    stored = store.get_stored(saved.name)
    click.echo(f"saved {saved.name}: {describe_timing(saved)} -> {saved.job}; next fire {_when(stored)}")


@cron_group.command("remove")
@click.argument("name")
@pass_state
def remove_command(state: State, name: str) -> None:
    """Delete schedule NAME and its history."""
    _store(state).delete(name)
    click.echo(f"removed {name}")


@cron_group.command("enable")
@click.argument("name")
@pass_state
def enable_command(state: State, name: str) -> None:
    """Fire NAME again, from its next fire time on."""
    state.load_jobs()
    store = _store(state)
    store.set_enabled(name, True)
    click.echo(f"enabled {name}; next fire {_when(store.get_stored(name))}")


@cron_group.command("disable")
@click.argument("name")
@pass_state
def disable_command(state: State, name: str) -> None:
    """Stop firing NAME (it stays saved)."""
    state.load_jobs()
    _store(state).set_enabled(name, False)
    click.echo(f"disabled {name}")


@cron_group.command("run")
@click.argument("name")
@pass_state
def run_command(state: State, name: str) -> None:
    """Enqueue one run of NAME now; prints the job id."""
    state.load_jobs()
    click.echo(run_now(_store(state), name).job_id)


@cron_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_state
def show_command(state: State, name: str, as_json: bool) -> None:
    """Show NAME, its next 5 fire times (in its zone and UTC) and its latest runs."""
    store = _store(state)
    stored = store.get_stored(name)
    schedule = stored.schedule
    now = datetime.now(UTC)
    fires = upcoming(schedule, now, SHOWN_FIRES) if schedule.enabled else []
    runs = store.history(name, limit=5)
    if as_json:
        echo_json({**stored.as_dict(), "next_fires": [f.isoformat() for f in fires], "runs": runs})
        return
    zone = validate_timezone(schedule.timezone)
    for key, value in schedule.as_dict().items():
        if value not in (None, "", [], {}):
            click.echo(f"{key:>15}: {_shown(key, value)}")
    if schedule.cron:
        click.echo(f"{'means':>15}: {describe_cron(schedule.cron)}")
    click.echo(
        f"next {SHOWN_FIRES} fires ({schedule.timezone} | UTC):" if fires else "next fires: none (disabled)"
    )
    for fire in fires:
        click.echo(f"  {fire.astimezone(zone).isoformat()}  |  {fire.isoformat()}")
    click.echo("latest runs:" if runs else "latest runs: none yet")
    for run in runs:
        click.echo("  " + _run_line(run))


@cron_group.command("history")
@click.argument("name")
@click.option(
    "-n", "limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="How many runs."
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_state
def history_command(state: State, name: str, limit: int, as_json: bool) -> None:
    """Latest runs of NAME: fire time, enqueue, start, end, status, duration, job id."""
    store = _store(state)
    store.get(name)
    runs = store.history(name, limit=limit)
    if as_json:
        echo_json(runs)
        return
    for run in runs:
        click.echo(_run_line(run))


@cron_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_state
def list_command(state: State, as_json: bool) -> None:
    """Every schedule with its timing, job, next fire and last run."""
    stored = _store(state).list_stored()
    if as_json:
        echo_json([s.as_dict() for s in stored])
        return
    if not stored:
        click.echo("no schedules; add one with `rqstack cron add NAME JOB --cron '0 3 * * *'`")
        return
    for item in stored:
        schedule = item.schedule
        state_text = "enabled" if schedule.enabled else "disabled"
        click.echo(
            f"{schedule.name}  {describe_timing(schedule)}  {schedule.job}  "
            f"[{state_text}, {schedule.owner}]  next {_when(item)}  last {item.last_job_id or '-'}"
        )


@cron_group.command("next")
@click.argument("expr")
@click.option("--tz", "timezone", metavar="TZ", help="IANA time zone (default RQSTACK_TIMEZONE).")
@click.option("--from", "start", metavar="ISO8601", help="Start after this time (default now).")
@click.option(
    "-n", "count", type=click.IntRange(1, 1000), default=5, show_default=True, help="How many fire times."
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_state
def next_command(
    state: State, expr: str, timezone: str | None, start: str | None, count: int, as_json: bool
) -> None:
    """Preview the next fire times of cron EXPR (no Redis needed); invalid or never-firing: exit 2."""
    try:
        cron = parse_cron(expr)
    except InvalidCron as exc:
        raise InvalidCron(
            exc.message.replace("the schedule was not saved", "nothing to preview"), field="cron"
        ) from None
    zone_name = timezone or state.settings.timezone
    try:
        zone = validate_timezone(zone_name)
    except BadInput as exc:
        raise BadInput(
            exc.message.replace("the schedule was not saved", "nothing to preview"), field="tz"
        ) from None
    after = parse_iso_datetime(start, "--from") if start else datetime.now(UTC)
    fires = fire_times(cron, zone, after, count)
    if as_json:
        echo_json(
            {
                "expr": cron.text,
                "timezone": zone_name,
                "description": describe_cron(cron),
                "from": after.isoformat(),
                "fires": [{"local": f.astimezone(zone).isoformat(), "utc": f.isoformat()} for f in fires],
            }
        )
        return
    click.echo(f"{cron.text} ({zone_name}): {describe_cron(cron)}")
    for fire in fires:
        click.echo(f"{fire.astimezone(zone).isoformat()}  |  {fire.isoformat()}")


def _when(stored: StoredSchedule) -> str:
    if stored.next_fire is None:
        return "- (disabled)"
    zone = validate_timezone(stored.schedule.timezone)
    return stored.next_fire.astimezone(zone).isoformat()


def _shown(key: str, value: Any) -> str:
    if key in ("every", "timeout", "misfire_grace") and isinstance(value, int | float):
        return format_duration(value)
    return str(value)


def _run_line(run: dict[str, Any]) -> str:
    parts = [str(run.get("fire_time", "-")), str(run.get("status", "-"))]
    for key in ("job_id", "enqueued_at", "started_at", "ended_at"):
        if run.get(key):
            parts.append(f"{key}={run[key]}")
    if run.get("duration") is not None:
        parts.append(f"duration={run['duration']}s")
    for key in ("count", "reason", "error"):
        if run.get(key):
            parts.append(f"{key}={run[key]}")
    return "  ".join(parts)


COMMANDS = [cron_group]
