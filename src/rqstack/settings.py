"""Every knob of rqstack in one frozen, validated object read from the environment."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rqstack import constants
from rqstack.durations import parse_duration
from rqstack.errors import ConfigError, RqstackError

_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")


@dataclass(frozen=True)
class Settings:
    """Configuration shared by every rqstack process; build it with ``Settings.from_env()``."""

    redis_url: str | None = None
    data_dir: Path = Path(constants.DEFAULT_DATA_DIR)
    timezone: str = constants.DEFAULT_TIMEZONE
    job_modules: tuple[str, ...] = ()
    dashboard_token: str | None = None
    dashboard_host: str = constants.DEFAULT_DASHBOARD_HOST
    dashboard_port: int = constants.DEFAULT_DASHBOARD_PORT
    slack_webhook_url: str | None = None
    smtp_url: str | None = None
    alert_email: str | None = None
    database_url: str | None = None
    backup_dir: Path | None = None
    alert_webhook_url: str | None = None
    alert_on_success: tuple[str, ...] = ()
    backlog_threshold: int | None = None
    #: Worker heartbeat, abandoned-job TTL, reaper interval and SIGTERM grace (None: the defaults).
    worker_heartbeat: float | None = None
    worker_heartbeat_ttl: float | None = None
    reaper_interval: float | None = None
    shutdown_grace: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the RQSTACK_* variables (and REDIS_URL, DATABASE_URL)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        settings = cls(
            redis_url=get("REDIS_URL"),
            data_dir=Path(get("RQSTACK_DATA_DIR") or constants.DEFAULT_DATA_DIR),
            timezone=get("RQSTACK_TIMEZONE") or constants.DEFAULT_TIMEZONE,
            job_modules=tuple(m.strip() for m in (get("RQSTACK_JOBS") or "").split(",") if m.strip()),
            dashboard_token=get("RQSTACK_DASHBOARD_TOKEN"),
            dashboard_host=get("RQSTACK_DASHBOARD_HOST") or constants.DEFAULT_DASHBOARD_HOST,
            dashboard_port=_port(get("RQSTACK_DASHBOARD_PORT")),
            slack_webhook_url=get("RQSTACK_SLACK_WEBHOOK_URL"),
            smtp_url=get("RQSTACK_SMTP_URL"),
            alert_email=get("RQSTACK_ALERT_EMAIL"),
            database_url=get("DATABASE_URL"),
            backup_dir=Path(backup_dir) if (backup_dir := get("RQSTACK_BACKUP_DIR")) else None,
            alert_webhook_url=get("RQSTACK_ALERT_WEBHOOK_URL"),
            alert_on_success=tuple(
                n.strip() for n in (get("RQSTACK_ALERT_ON_SUCCESS") or "").split(",") if n.strip()
            ),
            backlog_threshold=_count(get("RQSTACK_BACKLOG_THRESHOLD"), "RQSTACK_BACKLOG_THRESHOLD"),
            worker_heartbeat=_seconds(get("RQSTACK_WORKER_HEARTBEAT"), "RQSTACK_WORKER_HEARTBEAT"),
            worker_heartbeat_ttl=_seconds(
                get("RQSTACK_WORKER_HEARTBEAT_TTL"), "RQSTACK_WORKER_HEARTBEAT_TTL"
            ),
            reaper_interval=_seconds(get("RQSTACK_REAPER_INTERVAL"), "RQSTACK_REAPER_INTERVAL"),
            shutdown_grace=_seconds(get("RQSTACK_SHUTDOWN_GRACE"), "RQSTACK_SHUTDOWN_GRACE"),
        )
        settings.validate()
        return settings

    def with_changes(self, **changes: Any) -> Settings:
        """A validated copy with some fields replaced (CLI flags over environment)."""
        changed = replace(self, **changes)
        changed.validate()
        return changed

    def validate(self) -> None:
        """Raise ConfigError naming the variable and the fix for any unusable value."""
        if self.redis_url is not None:
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in _REDIS_SCHEMES:
                raise ConfigError(
                    f"REDIS_URL {self.redis_url!r} has scheme {scheme!r}; rqstack cannot connect; "
                    f"use one of {', '.join(s + '://' for s in _REDIS_SCHEMES)} or unset it for the "
                    "embedded server",
                    field="REDIS_URL",
                )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"RQSTACK_TIMEZONE {self.timezone!r} is not a known time zone; schedules would fire at "
                "the wrong time; use an IANA name such as UTC, Europe/Berlin or Asia/Seoul",
                field="RQSTACK_TIMEZONE",
            ) from None
        if not 0 < self.dashboard_port < 65536:
            raise ConfigError(
                f"RQSTACK_DASHBOARD_PORT {self.dashboard_port} is out of range; the dashboard cannot "
                "start; use a port between 1 and 65535",
                field="RQSTACK_DASHBOARD_PORT",
            )

    @property
    def backups(self) -> Path:
        """Where backup jobs write: RQSTACK_BACKUP_DIR, else <RQSTACK_DATA_DIR>/backups."""
        return self.backup_dir if self.backup_dir is not None else self.data_dir / "backups"

    @property
    def zone(self) -> ZoneInfo:
        """The default time zone of new schedules."""
        return ZoneInfo(self.timezone)

    @property
    def dashboard_is_loopback(self) -> bool:
        """True when the dashboard only listens on this machine."""
        return is_loopback(self.dashboard_host)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port(text: str | None) -> int:
    if text is None:
        return constants.DEFAULT_DASHBOARD_PORT
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"RQSTACK_DASHBOARD_PORT {text!r} is not a number; the dashboard cannot start; "
            "set a port such as 9181",
            field="RQSTACK_DASHBOARD_PORT",
        ) from None


def _count(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"{name} {text!r} is not a positive whole number; it cannot be used; set a count such as 100",
            field=name,
        )
    return value


def _seconds(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text, field=name)
    except RqstackError as exc:
        raise ConfigError(exc.message.replace("nothing was saved", "it cannot be used"), field=name) from None
