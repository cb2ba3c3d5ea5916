"""Commands that queue and inspect jobs: enqueue, job show|list|cancel, jobs."""

from __future__ import annotations

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
from rqstack.worker.enqueue import EnqueueRequest, enqueue, prepare
from rqstack.worker.inspect import JOB_STATUSES, cancel_job, job_details, list_jobs
from rqstack.worker.jobs.registry import registered_jobs


@click.command("enqueue")
@click.argument("job_name", metavar="JOB")
@click.argument("args", nargs=-1)
@click.option("--kwargs", "kwargs_json", metavar="JSON", help="Keyword arguments as a JSON object.")
@click.option("--queue", "-q", help="Queue name (default: the job's queue).")
@click.option("--in", "delay", metavar="DURATION", help="Run after a delay: 30s, 10m, 2h.")
@click.option("--at", "at", metavar="ISO8601", help="Run at a time, e.g. 2026-12-01T03:00:00+09:00.")
@click.option("--timeout", metavar="DURATION", help="Kill the job after this long: 5m.")
@click.option("--retry", type=click.IntRange(0, 100), help="Retries after a failure.")
@click.option(
    "--retry-interval", metavar="D,D,...|exp:BASE[:MAX]", help="Waits between retries: 30s,2m or exp:10s:10m."
)
@click.option("--id", "job_id", help="Job id ([A-Za-z0-9_-], up to 128).")
@click.option("--unique", is_flag=True, help="Return the existing job instead of queuing a second one.")
@click.option("--unique-key", metavar="KEY", help="One queued-or-running job per KEY (implies --unique).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def enqueue_command(
    state: State,
    job_name: str,
    args: tuple[str, ...],
    kwargs_json: str | None,
    queue: str | None,
    delay: str | None,
    at: str | None,
    timeout: str | None,
    retry: int | None,
    retry_interval: str | None,
    job_id: str | None,
    unique: bool,
    unique_key: str | None,
    as_json: bool,
) -> None:
    """Queue JOB with ARGS (each a JSON value, else a string); prints the job id."""
    state.load_jobs()
    request = EnqueueRequest(
        job=job_name,
        args=[_cli_value(a) for a in args],
        kwargs=parse_json_option(kwargs_json, "--kwargs", dict),
        queue=queue,
        delay=duration_option(delay, "--in"),
        at=parse_iso_datetime(at, "--at") if at else None,
        timeout=duration_option(timeout, "--timeout"),
        retry=retry,
        retry_intervals=retry_interval,
        job_id=job_id,
        unique=unique or unique_key is not None,
        unique_key=unique_key,
    )
    prepare(request)  # every check before the first connection: bad input never touches Redis
    result = enqueue(state.connection(), request)
    if as_json:
        echo_json(
            {
                "id": result.job_id,
                "queue": result.queue,
                "status": result.status,
                "due": result.due,
                "existing": result.existing,
            }
        )
    else:
        click.echo(result.job_id)


@click.group("job")
def job_group() -> None:
    """Show, list and cancel jobs."""


@job_group.command("show")
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def job_show(state: State, job_id: str, as_json: bool) -> None:
    """Status, progress, result or error of job ID."""
    details = job_details(state.connection(), job_id)
    if as_json:
        echo_json(details)
        return
    for key in ("id", "job", "queue", "status", "enqueued_at", "started_at", "ended_at", "description"):
        if details.get(key) is not None:
            click.echo(f"{key:12} {details[key]}")
    progress = details.get("progress")
    if progress:
        percent = "" if progress.get("percent") is None else f"{progress['percent']:.0f}% "
        click.echo(f"{'progress':12} {percent}{progress.get('message', '')}")
    if details.get("result") is not None:
        click.echo(f"{'result':12} {details['result']!r}")
    if details.get("error"):
        click.echo(f"{'error':12} {details['error']}")


@job_group.command("list")
@click.option("--queue", "-q", help="Only this queue.")
@click.option("--status", "-s", type=click.Choice(JOB_STATUSES), help="Only jobs with this status.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def job_list(state: State, queue: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Jobs by queue and status, newest registries first."""
    rows = list_jobs(state.connection(), queue=queue, status=status, limit=limit)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:40} {row['queue']:12} {row['status']:10} {row['description']}")


@job_group.command("cancel")
@click.argument("job_id", metavar="ID")
@pass_state
def job_cancel(state: State, job_id: str) -> None:
    """Cancel job ID: a queued job is removed, a running job is stopped; prints ID and its status."""
    status = cancel_job(state.connection(), job_id)
    click.echo(f"{job_id} {status}")


@click.command("jobs")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def jobs_command(state: State, as_json: bool) -> None:
    """Registered job names with their parameters."""
    state.load_jobs()
    definitions = [d.as_dict() for d in registered_jobs()]
    if as_json:
        echo_json(definitions)
        return
    for definition in definitions:
        params = ", ".join(_param_text(p) for p in definition["parameters"])
        click.echo(f"{definition['name']}({params})  queue={definition['queue']}")
        if definition["description"]:
            click.echo(f"    {definition['description']}")


def _param_text(param: dict[str, Any]) -> str:
    text = f"{param['name']}: {param['type']}"
    return text if param["required"] else f"{text} = {param.get('default')!r}"


def _cli_value(text: str) -> Any:
    """A positional CLI argument: a JSON value when it parses as one, else the plain string."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


COMMANDS = [enqueue_command, job_group, jobs_command]
