"""`rqstack presets list|install` on a real redis-server: ready schedules, idempotent, never clobbering."""

from __future__ import annotations

import json

import pytest
import redis
from click.testing import CliRunner

from rqstack.cli import main
from rqstack.sched.presets import PRESETS
from rqstack.sched.store import ScheduleStore
from rqstack.worker.jobs.registry import load_jobs


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def store(
    connection: redis.Redis, redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> ScheduleStore:
    monkeypatch.setenv("RQSTACK_TIMEZONE", "Asia/Seoul")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    load_jobs()
    return ScheduleStore(connection)


def test_install_all_then_again_changes_nothing(store: ScheduleStore) -> None:
    code, out = run("presets", "install")
    assert code == 0, out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("created")] == [
        ["created", "nightly-backup:"],
        ["created", "weekly-cleanup:"],
        ["created", "daily-report:"],
    ]
    assert "note: nightly-backup needs DATABASE_URL" in out

    backup = store.get("nightly-backup")
    assert (backup.job, backup.cron, backup.timezone, backup.owner) == (
        "backup.postgres",
        "0 3 * * *",
        "Asia/Seoul",
        "preset",
    )
    cleanup = store.get("weekly-cleanup")
    assert (cleanup.job, cleanup.cron, dict(cleanup.kwargs)) == (
        "maintenance.cleanup",
        "0 1 * * 0",
        {"keep_days": 30},
    )
    report = store.get("daily-report")
    assert (report.job, report.cron) == ("report.daily", "0 23 * * *")
    next_backup = store.next_due("nightly-backup")
    assert next_backup is not None and (next_backup.hour, next_backup.minute) == (18, 0)  # 03:00 KST in UTC

    stamps = {s.name: s.updated_at for s in store.list()}
    code, out = run("presets", "install")
    assert code == 0
    assert "nothing changed: the presets were already installed" in out
    assert all(line.startswith(("unchanged", "nothing", "note")) for line in out.splitlines())
    assert {s.name: s.updated_at for s in store.list()} == stamps


def test_reinstall_restores_the_definition_but_keeps_disabled(store: ScheduleStore) -> None:
    assert run("presets", "install", "weekly-cleanup")[0] == 0
    store.update("weekly-cleanup", {"cron": "0 2 * * *", "enabled": False})
    code, out = run("presets", "install", "weekly-cleanup", "--json")
    assert code == 0
    (change,) = json.loads(out)
    assert change["action"] == "updated" and change["schedule"]["cron"] == "0 1 * * 0"
    restored = store.get("weekly-cleanup")
    assert restored.cron == "0 1 * * 0" and restored.enabled is False


def test_a_name_taken_by_a_user_schedule_is_refused(store: ScheduleStore) -> None:
    code, out = run("cron", "add", "daily-report", "demo.add", "--cron", "0 9 * * *", "--args", "[1, 2]")
    assert code == 0, out
    code, out = run("presets", "install")
    assert code == 2
    assert "'daily-report' (owner cli) already exist" in out and "no preset was installed" in out
    assert store.find("nightly-backup") is None  # all or nothing
    assert store.get("daily-report").job == "demo.add"

    code, out = run("presets", "install", "nightly-backup")
    assert code == 0 and out.startswith("created")


def test_unknown_preset_is_bad_input(store: ScheduleStore) -> None:
    code, out = run("presets", "install", "hourly-coffee")
    assert code == 2
    assert "no preset named 'hourly-coffee'" in out and "nightly-backup" in out
    assert store.names() == []


def test_list_shows_each_preset_and_its_status(store: ScheduleStore) -> None:
    run("presets", "install", "daily-report")
    code, out = run("presets", "list", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert list(rows) == list(PRESETS)
    assert rows["daily-report"]["status"] == "installed"
    assert rows["nightly-backup"]["status"] == "not installed"
    assert rows["weekly-cleanup"]["timezone"] == "Asia/Seoul"
    code, out = run("presets", "list")
    assert code == 0 and "daily-report" in out and "cron 0 3 * * * (Asia/Seoul)" in out
