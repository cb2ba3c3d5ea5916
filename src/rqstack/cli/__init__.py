"""The `rqstack` command: a click group whose subcommands parse, call the library and print."""

from __future__ import annotations

import logging

import click

from rqstack.cli.common import RqstackGroup, State, to_click_error
from rqstack.errors import RqstackError
from rqstack.settings import Settings


@click.group(cls=RqstackGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def _register() -> None:
    from rqstack.cli import cron, jobs, presets, run, scheduler, schedules, status

    for module in (jobs, run, status, cron, schedules, scheduler, presets):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
