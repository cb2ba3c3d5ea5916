"""What every command shares: settings, the Redis connection, error reporting and JSON output."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import redis

from rqstack.connection import connect
from rqstack.durations import parse_duration
from rqstack.errors import BadInput, RqstackError
from rqstack.settings import Settings
from rqstack.worker.jobs.registry import load_jobs

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """Per-invocation state: settings read once, a connection opened on first use."""

    settings: Settings
    _connection: redis.Redis | None = field(default=None, repr=False)
    _jobs_loaded: bool = False

    def connection(self) -> redis.Redis:
        """The Redis client (starting the embedded server when REDIS_URL is unset)."""
        if self._connection is None:
            self._connection = connect(self.settings)
        return self._connection

    def load_jobs(self) -> None:
        """Import built-in and RQSTACK_JOBS modules once."""
        if not self._jobs_loaded:
            load_jobs(self.settings.job_modules)
            self._jobs_loaded = True


pass_state = click.make_pass_decorator(State)


class RqstackGroup(click.Group):
    """A click group that turns RqstackError into a one-line message and its exit code.

    ``lazy`` maps a subcommand name to the module (``rqstack.cli.<module>``) whose COMMANDS list
    holds it; the module is imported only when that command runs or help lists the commands, so
    ``rqstack worker`` starts without loading the scheduler's cron math or the dashboard.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, loaded or not."""
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module on first use."""
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module = importlib.import_module(f"rqstack.cli.{self.lazy[cmd_name]}")
            for command in module.COMMANDS:
                if command.name == cmd_name:
                    self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; errors become messages, never tracebacks."""
        try:
            return super().invoke(ctx)
        except RqstackError as exc:
            raise to_click_error(exc) from None


def to_click_error(exc: RqstackError) -> click.ClickException:
    """The click exception that prints ``exc.message`` and exits with ``exc.exit_code``."""
    error = click.ClickException(exc.message)
    error.exit_code = exc.exit_code  # type: ignore[misc]  # click reads it per instance
    return error


def echo_json(document: Any) -> None:
    """Print one JSON document (sorted keys, ISO datetimes) to stdout."""
    click.echo(json.dumps(document, indent=2, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def parse_json_option(text: str | None, option: str, expected: type) -> Any:
    """Decode a JSON flag value (``--args``, ``--kwargs``); BadInput naming the flag when malformed."""
    if text is None:
        return expected()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{option} is not valid JSON ({exc.msg} at character {exc.pos}); nothing was written; "
            f"""example: {option} '{'{"keep_days": 14}' if expected is dict else '[1, "two"]'}'""",
            field=option.lstrip("-"),
        ) from None
    if not isinstance(value, expected):
        kind = "an object" if expected is dict else "an array"
        raise BadInput(f"{option} must be {kind} in JSON; nothing was written", field=option.lstrip("-"))
    return value


def parse_iso_datetime(text: str, option: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text; a time without a zone is refused, not guessed."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{option} {text!r} is not an ISO 8601 time; nothing was written; "
            "write e.g. 2026-12-01T03:00:00+09:00",
            field=option.lstrip("-"),
        ) from None
    if value.tzinfo is None:
        raise BadInput(
            f"{option} {text!r} has no time zone; nothing was written; add an offset (+09:00) or Z for UTC",
            field=option.lstrip("-"),
        )
    return value.astimezone(UTC)


def duration_option(text: str | None, option: str) -> float | None:
    """Seconds from a duration flag, or None when the flag was not given."""
    return None if text is None else parse_duration(text, field=option.lstrip("-"))


def fail(message: str, exit_code: int = 1) -> None:
    """Print an error line and exit (for runtime failures found by the command itself)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(exit_code)
