"""Run the Procfile's three process types (dashboard, workers, scheduler) under one supervisor."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Mapping

from honcho.manager import Manager
from honcho.printer import Printer

from rqstack.settings import Settings

_GRACEFUL_RETURN_CODES = {0, -signal.SIGTERM, 128 + signal.SIGTERM, 130, 143}


def stack_commands(settings: Settings, *, workers: int, python: str) -> dict[str, list[str]]:
    """Process name -> argv, the same three types as the Procfile."""
    base = [python, "-m", "rqstack"]
    commands = {
        "web": [
            *base,
            "dashboard",
            "--host",
            settings.dashboard_host,
            "--port",
            str(settings.dashboard_port),
        ],
        "scheduler": [*base, "scheduler"],
    }
    for index in range(1, workers + 1):
        commands[f"worker.{index}"] = [*base, "worker"]
    return commands


def run_stack(
    settings: Settings,
    redis_url: str,
    *,
    workers: int = 1,
    python: str = sys.executable,
    extra_env: Mapping[str, str] | None = None,
) -> int:
    """Run everything in the foreground with prefixed logs until Ctrl-C/SIGTERM or a process exits.

    Returns 0 when stopped by a signal and every process shut down cleanly.
    """
    env = {**os.environ, **(extra_env or {}), "REDIS_URL": redis_url}
    manager = Manager(Printer(sys.stdout))
    for name, argv in stack_commands(settings, workers=workers, python=python).items():
        manager.add_process(name, " ".join(shlex.quote(word) for word in argv), env=env)
    manager.loop()
    returncode = manager.returncode
    if returncode in _GRACEFUL_RETURN_CODES:
        return 0
    return int(returncode or 0)
