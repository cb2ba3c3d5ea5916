"""Knobs of one worker process: heartbeat, reaper, shutdown grace, batching, isolation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rqstack import constants
from rqstack.errors import ConfigError
from rqstack.settings import Settings

#: Environment variables behind the worker settings (read by Settings.from_env; CLI flags override them).
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
    def from_settings(cls, settings: Settings, **overrides: Any) -> WorkerOptions:
        """Defaults, then the RQSTACK_WORKER_* settings, then ``overrides`` (CLI flags) that are not None."""
        values: dict[str, Any] = {
            "heartbeat": settings.worker_heartbeat,
            "heartbeat_ttl": settings.worker_heartbeat_ttl,
            "reaper_interval": settings.reaper_interval,
            "shutdown_grace": settings.shutdown_grace,
            **overrides,
        }
        options = replace(cls(), **{k: v for k, v in values.items() if v is not None})
        options.validate()
        return options

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WorkerOptions:
        """``from_settings`` with settings read from ``env`` (default: the process environment)."""
        return cls.from_settings(Settings.from_env(env), **overrides)

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
