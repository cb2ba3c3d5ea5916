"""`rqstack cron ...`, `schedules apply|export` and `scheduler --burst` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result

from rqstack import constants
from rqstack.cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def db(redis_env: dict[str, str], connection: redis.Redis) -> redis.Redis:
    return connection


def test_add_list_show_history_remove(db: redis.Redis) -> None:
    result = run(
        "cron",
        "add",
        "nightly",
        "demo.add",
        "--cron",
        "0 3 * * *",
        "--tz",
        "Asia/Seoul",
        "--kwargs",
        '{"a": 1, "b": 2}',
        "--retry",
        "3",
        "--retry-interval",
        "5m",
        "--timeout",
        "10m",
    )
    assert result.exit_code == 0, result.output
    assert "next fire" in result.output and "+09:00" in result.output
    listed = json.loads(run("cron", "list", "--json").output)
    assert [s["name"] for s in listed] == ["nightly"]
    assert listed[0]["timezone"] == "Asia/Seoul" and listed[0]["retry_interval"] == [300.0]
    shown = run("cron", "show", "nightly")
    assert shown.exit_code == 0
    assert shown.output.count("+09:00  |  ") == 5 and "+00:00" in shown.output
    job_id = run("cron", "run", "nightly").output.strip()
    assert job_id.startswith("nightly-run-")
    assert db.lrange(constants.RQ_QUEUE_KEY_PREFIX + "default", 0, -1) == [job_id.encode()]
    history = json.loads(run("cron", "history", "nightly", "--json").output)
    assert history[0]["job_id"] == job_id and history[0]["status"] == "queued"
    assert run("cron", "disable", "nightly").exit_code == 0
    assert json.loads(run("cron", "list", "--json").output)[0]["next_fire"] is None
    assert run("cron", "enable", "nightly").exit_code == 0
    assert run("cron", "remove", "nightly").exit_code == 0
    assert json.loads(run("cron", "list", "--json").output) == []


@pytest.mark.parametrize(
    "args",
    [
        ["cron", "add", "x", "no.such.job", "--cron", "* * * * *"],
        ["cron", "add", "x", "demo.add", "--cron", "0 0 31 2 *", "--kwargs", '{"a": 1, "b": 2}'],
        ["cron", "add", "x", "demo.add", "--every", "1m", "--kwargs", '{"a": "x", "b": 2}'],
        ["cron", "add", "x", "demo.echo", "--cron", "* * * * *", "--tz", "Moon/Base"],
        ["cron", "add", "x", "demo.echo", "--cron", "* * * * *", "--every", "1m"],
        ["cron", "add", "x", "demo.echo"],
        ["cron", "add", "x y", "demo.echo", "--every", "1m"],
        ["cron", "add", "x", "demo.echo", "--every", "soon"],
        ["cron", "add", "x", "demo.echo", "--every", "1m", "--kwargs", "{not json"],
        ["cron", "add", "x", "demo.echo", "--every", "1m", "--misfire", "never"],
        ["cron", "remove", "missing"],
        ["cron", "show", "missing"],
        ["cron", "run", "missing"],
    ],
)
def test_bad_input_exits_2_and_writes_nothing(db: redis.Redis, args: list[str]) -> None:
    before = db.dbsize()
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Error" in result.output
    assert db.dbsize() == before


def test_add_twice_is_refused_unless_replace(db: redis.Redis) -> None:
    assert run("cron", "add", "a", "demo.echo", "--every", "1m").exit_code == 0
    again = run("cron", "add", "a", "demo.echo", "--every", "2m")
    assert again.exit_code == 2 and "already exists" in again.output
    assert run("cron", "add", "a", "demo.echo", "--every", "2m", "--replace").exit_code == 0
    assert json.loads(run("cron", "list", "--json").output)[0]["every"] == 120.0


def test_cron_next_needs_no_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = run(
        "cron",
        "next",
        "30 1 * * *",
        "--tz",
        "America/New_York",
        "--from",
        "2027-11-06T12:00:00Z",
        "-n",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.output
    fires = json.loads(result.output)["fires"]
    # Fall-back day: 01:30 happens twice in New York, fires once (EDT).
    assert [f["utc"] for f in fires] == ["2027-11-07T05:30:00+00:00", "2027-11-08T06:30:00+00:00"]
    bad = run("cron", "next", "0 0 31 2 *")
    assert bad.exit_code == 2 and "never fires" in bad.output


SCHEDULES = """
[[schedule]]
name = "nightly-backup"
job = "demo.add"
cron = "0 3 * * *"
timezone = "Asia/Seoul"
kwargs = { a = 1, b = 2 }
retry = 3
retry_interval = "5m"
timeout = "10m"

[[schedule]]
name = "heartbeat"
job = "demo.echo"
every = "30s"
"""


def test_schedules_apply_dry_run_prune_export(db: redis.Redis, tmp_path: Path) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(SCHEDULES)
    assert run("cron", "add", "manual", "demo.echo", "--every", "1m").exit_code == 0
    before = db.dbsize()
    dry = run("schedules", "apply", str(path), "--dry-run")
    assert dry.exit_code == 0 and "+ nightly-backup" in dry.output and "+ heartbeat" in dry.output
    assert db.dbsize() == before
    applied = run("schedules", "apply", str(path))
    assert "2 created" in applied.output
    again = run("schedules", "apply", str(path))
    assert "0 created, 0 updated, 0 removed, 2 unchanged" in again.output
    path.write_text(SCHEDULES.split('[[schedule]]\nname = "heartbeat"')[0].replace("retry = 3", "retry = 5"))
    changed = run("schedules", "apply", str(path))
    assert "~ nightly-backup: retry: 3 -> 5" in changed.output
    assert "heartbeat" in json.dumps(json.loads(run("cron", "list", "--json").output))
    pruned = run("schedules", "apply", str(path), "--prune")
    assert "- heartbeat" in pruned.output
    names = [s["name"] for s in json.loads(run("cron", "list", "--json").output)]
    assert names == ["manual", "nightly-backup"]  # the CLI-made schedule survives the file
    exported = run("schedules", "export").output
    assert (
        "[[schedule]]" in exported
        and 'name = "nightly-backup"' in exported
        and "kwargs = { a = 1, b = 2 }" in exported
    )
    assert json.loads(run("schedules", "export", "--json").output)[0]["name"] == "manual"


def test_schedules_apply_refuses_other_owners_and_bad_entries(db: redis.Redis, tmp_path: Path) -> None:
    assert run("cron", "add", "heartbeat", "demo.echo", "--every", "1m").exit_code == 0
    path = tmp_path / "s.toml"
    path.write_text(SCHEDULES)
    before = db.dbsize()
    clash = run("schedules", "apply", str(path))
    assert clash.exit_code == 2 and "owned by cli" in clash.output
    path.write_text(SCHEDULES.replace('"0 3 * * *"', '"0 0 31 2 *"'))
    bad = run("schedules", "apply", str(path))
    assert bad.exit_code == 2 and "schedule #1 (nightly-backup)" in bad.output
    path.write_text(
        SCHEDULES + '\n[[schedule]]\nname = "z"\njob = "demo.echo"\nevery = "1m"\ncolour = "red"\n'
    )
    assert run("schedules", "apply", str(path)).exit_code == 2
    assert db.dbsize() == before


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-1", '"forever"', "{ a = 1 }"])
def test_schedules_apply_refuses_impossible_durations_before_any_write(
    db: redis.Redis, tmp_path: Path, value: str
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[[schedule]]\nname = "first"\njob = "demo.echo"\nevery = "1h"\n\n'
        f'[[schedule]]\nname = "second"\njob = "demo.echo"\nevery = "1s"\ntimeout = {value}\n'
    )
    before = db.dbsize()
    result = run("schedules", "apply", str(path))
    assert result.exit_code == 2, result.output
    assert "schedule #2 (second)" in result.output
    assert db.dbsize() == before  # the valid first entry was not written either


def test_scheduler_burst_fires_due_work(db: redis.Redis) -> None:
    from datetime import UTC, datetime, timedelta

    from rqstack.worker.enqueue import EnqueueRequest, enqueue
    from rqstack.worker.jobs.registry import load_jobs

    load_jobs()
    add = run(
        "cron", "add", "tick", "demo.echo", "--every", "1s", "--misfire", "once", "--misfire-grace", "0s"
    )
    assert add.exit_code == 0, add.output
    db.zadd(constants.SCHEDULE_DUE_KEY, {"tick": 1.0})  # long overdue: one catch-up run, not thousands
    enqueue(db, EnqueueRequest("demo.echo", at=datetime.now(UTC) + timedelta(milliseconds=1)))
    import time

    time.sleep(0.01)
    result = run("scheduler", "--burst")
    assert result.exit_code == 0, result.output
    assert db.llen(constants.RQ_QUEUE_KEY_PREFIX + "default") == 2


def test_backoff_retry_spec_is_kept_and_reaches_the_fired_job(db: redis.Redis) -> None:
    added = run(
        "cron",
        "add",
        "flaky",
        "demo.fail",
        "--every",
        "1m",
        "--retry",
        "3",
        "--retry-interval",
        "exp:10s:10m",
    )
    assert added.exit_code == 0, added.output
    assert 'retry_interval = "exp:10s:600s"' in run("schedules", "export").output
    fired = run("cron", "run", "flaky")
    assert fired.exit_code == 0, fired.output
    job_id = fired.output.strip().split()[-1]
    meta = json.loads(db.hget(f"rq:job:{job_id}", "meta") or b"{}")
    assert meta["rqstack_retry"] == {"max": 3, "backoff": [10.0, 600.0]}
