"""`rqstack presets list|install`: ready schedules for the built-in backup, cleanup and report jobs."""

from __future__ import annotations

import click

from rqstack.cli.common import State, echo_json, pass_state
from rqstack.sched.model import describe_timing
from rqstack.sched.presets import PRESETS, install_presets, preset_names, preset_status
from rqstack.sched.store import ScheduleStore
from rqstack.settings import Settings


@click.group("presets")
def presets_group() -> None:
    """Ready-made schedules: nightly-backup, weekly-cleanup, daily-report."""


@presets_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_command(state: State, as_json: bool) -> None:
    """Every preset, its job and timing, and whether it is installed."""
    state.load_jobs()
    store = ScheduleStore(state.connection(), default_timezone=state.settings.timezone)
    rows = []
    for name, preset in PRESETS.items():
        schedule = preset.schedule(state.settings.timezone)
        rows.append(
            {**schedule.definition(), "status": preset_status(store, name), "needs": list(preset.needs)}
        )
    if as_json:
        echo_json(rows)
        return
    for row, preset in zip(rows, PRESETS.values(), strict=True):
        schedule = preset.schedule(state.settings.timezone)
        click.echo(f"{row['name']:16} {row['status']:16} {row['job']:20} {describe_timing(schedule)}")
        click.echo(f"{'':16} {row['description']}")


@presets_group.command("install")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@pass_state
def install_command(state: State, names: tuple[str, ...], as_json: bool) -> None:
    """Install the named presets (all when none) in RQSTACK_TIMEZONE; running it again changes nothing."""
    state.load_jobs()
    chosen = preset_names(names)  # an unknown name fails before Redis is touched
    store = ScheduleStore(state.connection(), default_timezone=state.settings.timezone)
    changes = install_presets(store, chosen, timezone=state.settings.timezone)
    if as_json:
        echo_json([change.as_dict() for change in changes])
        return
    for change in changes:
        click.echo(
            f"{change.action:9} {change.name}: {change.schedule.job}, {describe_timing(change.schedule)}"
        )
    if all(change.action == "unchanged" for change in changes):
        click.echo("nothing changed: the presets were already installed")
    for name in chosen:
        for need in _missing(PRESETS[name].needs, state.settings):
            click.echo(f"note: {name} needs {need} in the worker's environment; it is not set here", err=True)


def _missing(needs: tuple[str, ...], settings: Settings) -> list[str]:
    present = {
        "DATABASE_URL": settings.database_url,
        "RQSTACK_SLACK_WEBHOOK_URL": settings.slack_webhook_url,
        "RQSTACK_ALERT_WEBHOOK_URL": settings.alert_webhook_url,
        "RQSTACK_SMTP_URL": settings.smtp_url,
    }
    return [need for need in needs if not any(present.get(part.strip()) for part in need.split("|"))]


COMMANDS = [presets_group]
