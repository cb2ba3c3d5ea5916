"""`rqstack schedules apply|export`: schedules declared in a TOML file, synced without touching others."""

from __future__ import annotations

import click

from rqstack.cli.common import State, echo_json, pass_state
from rqstack.sched.filesync import apply_plan, export_toml, load_file, plan_sync
from rqstack.sched.store import ScheduleStore


@click.group("schedules")
def schedules_group() -> None:
    """Sync schedules from a TOML file, or export them."""


@schedules_group.command("apply")
@click.argument("path", metavar="FILE.toml", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the diff, change nothing.")
@click.option("--prune", is_flag=True, help="Remove schedules of this file that the file no longer lists.")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@pass_state
def apply_command(state: State, path: str, dry_run: bool, prune: bool, as_json: bool) -> None:
    """Create or update the file's schedules; only schedules owned by this file are touched."""
    state.load_jobs()
    owner, schedules = load_file(path, default_timezone=state.settings.timezone)  # all checks before Redis
    store = ScheduleStore(state.connection(), default_timezone=state.settings.timezone)
    plan = plan_sync(store, owner, schedules, prune=prune)
    if not dry_run:
        apply_plan(store, plan)
    if as_json:
        echo_json(
            {
                "owner": owner,
                "dry_run": dry_run,
                "counts": plan.counts,
                "changes": [
                    {"action": c.action, "name": c.name, "fields": {k: list(v) for k, v in c.fields.items()}}
                    for c in plan.changes
                ],
            }
        )
        return
    for line in plan.lines():
        click.echo(line)
    counts = plan.counts
    verb = "would apply" if dry_run else "applied"
    click.echo(
        f"{verb} {owner}: {counts['create']} created, {counts['update']} updated, "
        f"{counts['delete']} removed, {counts['unchanged']} unchanged"
    )


@schedules_group.command("export")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@pass_state
def export_command(state: State, as_json: bool) -> None:
    """Print every schedule as a TOML file (or JSON)."""
    schedules = ScheduleStore(state.connection()).list()
    if as_json:
        echo_json([s.as_dict() for s in schedules])
    else:
        click.echo(export_toml(schedules), nl=False)


COMMANDS = [schedules_group]
