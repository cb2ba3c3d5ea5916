"""Settings.from_env: every knob read and validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from rqstack.errors import ConfigError
from rqstack.settings import Settings, is_loopback


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url is None
    assert settings.data_dir == Path(".rqstack")
    assert settings.timezone == "UTC"
    assert (settings.dashboard_host, settings.dashboard_port) == ("127.0.0.1", 9181)
    assert settings.job_modules == ()


def test_reads_every_documented_variable() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://localhost:6380/2",
            "RQSTACK_DATA_DIR": "/tmp/x",
            "RQSTACK_TIMEZONE": "Asia/Seoul",
            "RQSTACK_JOBS": "app.jobs, app.more ,",
            "RQSTACK_DASHBOARD_TOKEN": "s3cret",
            "RQSTACK_DASHBOARD_HOST": "0.0.0.0",
            "RQSTACK_DASHBOARD_PORT": "8000",
            "RQSTACK_SLACK_WEBHOOK_URL": "http://127.0.0.1/hook",
            "RQSTACK_SMTP_URL": "smtp://127.0.0.1:25",
            "RQSTACK_ALERT_EMAIL": "ops@example.com",
            "DATABASE_URL": "postgresql:///test",
        }
    )
    assert settings.redis_url == "redis://localhost:6380/2"
    assert settings.job_modules == ("app.jobs", "app.more")
    assert settings.dashboard_port == 8000
    assert settings.zone.key == "Asia/Seoul"
    assert not settings.dashboard_is_loopback


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"RQSTACK_TIMEZONE": "Mars/Olympus"}, "RQSTACK_TIMEZONE"),
        ({"RQSTACK_DASHBOARD_PORT": "nine"}, "RQSTACK_DASHBOARD_PORT"),
        ({"RQSTACK_DASHBOARD_PORT": "70000"}, "RQSTACK_DASHBOARD_PORT"),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert info.value.field == variable
    assert variable in info.value.message
    assert ";" in info.value.message  # problem; consequence; fix


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_worker_knobs_are_settings_and_reach_the_worker_options() -> None:
    from rqstack.worker.options import WorkerOptions

    settings = Settings.from_env({"RQSTACK_WORKER_HEARTBEAT": "2s", "RQSTACK_SHUTDOWN_GRACE": "1m"})
    assert (settings.worker_heartbeat, settings.shutdown_grace) == (2, 60)
    options = WorkerOptions.from_settings(settings, shutdown_grace=5.0)
    assert (options.heartbeat, options.shutdown_grace) == (2, 5)
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"RQSTACK_REAPER_INTERVAL": "soon"})
    assert info.value.field == "RQSTACK_REAPER_INTERVAL"
