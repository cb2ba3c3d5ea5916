"""`rqstack status`: Redis, queues, workers and the scheduler at a glance."""

from __future__ import annotations

import click

from rqstack.cli.common import State, echo_json, pass_state
from rqstack.status import stack_status


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@pass_state
def status_command(state: State, as_json: bool) -> None:
    """Redis, queues, workers, scheduler leader and lag."""
    report = stack_status(state.connection(), state.settings)
    if as_json:
        echo_json(report)
        return
    redis_info = report["redis"]
    click.echo(
        f"redis      {redis_info['url']} (version {redis_info['version']}, {redis_info['used_memory']})"
    )
    click.echo(f"queues     {len(report['queues'])}")
    for queue in report["queues"]:
        click.echo(
            f"  {queue['name']:20} queued={queue['queued']} started={queue['started']} "
            f"scheduled={queue['scheduled']} failed={queue['failed']} finished={queue['finished']}"
        )
    click.echo(f"workers    {len(report['workers'])}")
    for worker in report["workers"]:
        click.echo(f"  {worker['name']:40} {worker['state']:10} queues={','.join(worker['queues'])}")
    scheduler = report["scheduler"]
    if scheduler:
        click.echo(f"scheduler  {', '.join(f'{k}={v}' for k, v in sorted(scheduler.items()))}")
    else:
        click.echo("scheduler  not running")


COMMANDS = [status_command]
