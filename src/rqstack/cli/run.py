"""Long-running commands: up (the whole stack), worker, dashboard."""

from __future__ import annotations

import sys

import click

from rqstack.cli.common import State, pass_state
from rqstack.connection import EmbeddedRedis, redact, redis_url


@click.command("up")
@click.option("--workers", "-w", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--port", "-p", type=click.IntRange(1, 65535), help="Dashboard port (default 9181).")
@click.option("--host", help="Dashboard bind address (default 127.0.0.1).")
@pass_state
def up_command(state: State, workers: int, port: int | None, host: str | None) -> None:
    """Run dashboard, workers and scheduler in the foreground; Ctrl-C stops them all."""
    settings = state.settings.with_changes(
        dashboard_port=port or state.settings.dashboard_port,
        dashboard_host=host or state.settings.dashboard_host,
    )
    from rqstack.stack import run_stack  # honcho: only `up` needs it

    embedded = None
    if settings.redis_url is None:
        embedded = EmbeddedRedis(settings.data_dir)
        if not embedded.ensure_running():
            embedded = None  # another command started it and owns its lifetime
    try:
        url = redis_url(settings)
        click.echo(
            f"rqstack: Redis at {redact(url)}; dashboard on http://{settings.dashboard_host}:"
            f"{settings.dashboard_port}/",
            err=True,
        )
        returncode = run_stack(
            settings,
            url,
            workers=workers,
            python=sys.executable,
            extra_env={"PYTHONUNBUFFERED": "1"},
        )
    finally:
        if embedded is not None:
            embedded.stop()
    sys.exit(returncode)


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", "-b", is_flag=True, help="Exit when the queues are empty.")
@click.option("--name", "-n", help="Worker name (default: a random id).")
@click.option(
    "--isolated",
    "--fork",
    "isolated",
    is_flag=True,
    help="Run jobs in a reused forked horse process (crash and hang isolation).",
)
@click.option(
    "--shutdown-grace", metavar="DURATION", help="On SIGTERM, let the running job finish this long (25s)."
)
@click.option("--heartbeat", metavar="DURATION", help="Heartbeat interval (5s; RQSTACK_WORKER_HEARTBEAT).")
@click.option(
    "--heartbeat-ttl", metavar="DURATION", help="Jobs are abandoned after this without a heartbeat (20s)."
)
@click.option("--max-jobs-per-horse", type=click.IntRange(1), help="Recycle the horse after N jobs (1000).")
@click.option(
    "--batch",
    type=click.IntRange(1, 256),
    help="Most jobs claimed per round trip (8; 1 = one at a time, like rq).",
)
@pass_state
def worker_command(
    state: State,
    queues: tuple[str, ...],
    burst: bool,
    name: str | None,
    isolated: bool,
    shutdown_grace: str | None,
    heartbeat: str | None,
    heartbeat_ttl: str | None,
    max_jobs_per_horse: int | None,
    batch: int | None,
) -> None:
    """Run a worker on QUEUE... (default: the `default` queue), highest priority first; SIGTERM exits 0."""
    from rqstack.cli.common import duration_option
    from rqstack.worker.options import WorkerOptions
    from rqstack.worker.runner import run_worker

    options = WorkerOptions.from_settings(
        state.settings,
        isolated=isolated or None,
        shutdown_grace=duration_option(shutdown_grace, "--shutdown-grace"),
        heartbeat=duration_option(heartbeat, "--heartbeat"),
        heartbeat_ttl=duration_option(heartbeat_ttl, "--heartbeat-ttl"),
        horse_max_jobs=max_jobs_per_horse,
        max_batch=batch,
    )
    run_worker(state.settings, state.connection(), queues, burst=burst, name=name, options=options)


@click.command("dashboard")
@click.option("--host", help="Bind address (default RQSTACK_DASHBOARD_HOST or 127.0.0.1).")
@click.option(
    "--port", "-p", type=click.IntRange(1, 65535), help="Port (default RQSTACK_DASHBOARD_PORT or 9181)."
)
@pass_state
def dashboard_command(state: State, host: str | None, port: int | None) -> None:
    """Serve the dashboard, rq-dashboard at /rq/ and the JSON API at /api/."""
    from rqstack.dashboard.server import serve

    settings = state.settings.with_changes(
        dashboard_host=host or state.settings.dashboard_host,
        dashboard_port=port or state.settings.dashboard_port,
    )
    serve(settings)


COMMANDS = [up_command, worker_command, dashboard_command]
