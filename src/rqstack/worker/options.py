"""Knobs of one worker process: heartbeat, reaper, shutdown grace, batching, isolation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rqstack import constants
from rqstack.durations import parse_duration
from rqstack.errors import ConfigError

#: Environment variables read by ``WorkerOptions.from_env`` (CLI flags override them).
ENV_NAMES = {
    "heartbeat": "RQSTACK_WORKER_HEARTBEAT",
    "heartbeat_ttl": "RQSTACK_WORKER_HEARTBEAT_TTL",
    "reaper_interval": "RQSTACK_REAPER_INTERVAL",
    "shutdown_grace": "RQSTACK_SHUTDOWN_GRACE",
}


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker heartbeats, reaps, batches, isolates jobs and shuts down."""

    heartbeat: float = constants.WORKER_HEARTBEAT_SECONDS
    heartbeat_ttl: float = constants.WORKER_HEARTBEAT_TTL_SECONDS
    reaper_interval: float = constants.REAPER_INTERVAL_SECONDS
    shutdown_grace: float = constants.DEFAULT_SHUTDOWN_GRACE_SECONDS
    max_batch: int = constants.WORKER_MAX_BATCH
    isolated: bool = False
    horse_max_jobs: int = constants.HORSE_MAX_JOBS
    #: Longest blocking wait for work; bounds how long an idle worker takes to notice SIGTERM.
    idle_wait: float = 0.25

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WorkerOptions:
        """Defaults, then RQSTACK_WORKER_* variables, then ``overrides`` that are not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field_name, variable in ENV_NAMES.items():
            text = env.get(variable, "").strip()
            if text:
                values[field_name] = parse_duration(text, field=variable)
        values.update({k: v for k, v in overrides.items() if v is not None})
        options = replace(cls(), **values)
        options.validate()
        return options

    def validate(self) -> None:
        """ConfigError when the heartbeat TTL would let live jobs look abandoned."""
        if self.heartbeat_ttl < 2 * self.heartbeat:
            raise ConfigError(
                f"worker heartbeat TTL {self.heartbeat_ttl:g}s is less than twice the heartbeat "
                f"({self.heartbeat:g}s); running jobs would be reaped as abandoned; raise "
                f"{ENV_NAMES['heartbeat_ttl']} or lower {ENV_NAMES['heartbeat']}",
                field=ENV_NAMES["heartbeat_ttl"],
            )
        if self.max_batch < 1 or self.horse_max_jobs < 1:
            raise ConfigError("max_batch and horse_max_jobs must be at least 1; the worker did not start")
