"""The `rqstack` command: a click group whose subcommands parse, call the library and print."""

from __future__ import annotations

import logging

import click

from rqstack.cli.common import RqstackGroup, State, to_click_error
from rqstack.errors import RqstackError
from rqstack.settings import Settings

#: Each subcommand and the module under rqstack.cli that defines it (imported when it runs).
COMMAND_MODULES = {
    "enqueue": "jobs",
    "job": "jobs",
    "jobs": "jobs",
    "up": "run",
    "worker": "run",
    "dashboard": "run",
    "status": "status",
    "cron": "cron",
    "schedules": "schedules",
    "scheduler": "scheduler",
    "presets": "presets",
}


@click.group(
    cls=RqstackGroup,
    lazy=COMMAND_MODULES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.version_option(package_name="rqstack")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """rqstack: RQ queues and workers, an exactly-once cron scheduler and a dashboard on Redis."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
    except RqstackError as exc:
        raise to_click_error(exc) from None
    ctx.obj = State(settings)
