"""A scheduler started with another zone (RQSTACK_TIMEZONE, the host's TZ) does not move schedules.

The zone stored with a schedule wins; fire times live in Redis as UTC (index scores are unix seconds,
history and last_fire are ISO 8601 with +00:00).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from chaos.conftest import Chaos, report, wait_for
from rqstack import constants
from rqstack.sched.store import ScheduleStore, runs_key, schedule_key

pytestmark = pytest.mark.timeout(90)

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
#: The scheduler under test runs with a wrong default zone and a host clock zone of its own.
WRONG_ZONE = {"RQSTACK_TIMEZONE": "Asia/Tokyo", "TZ": "America/New_York"}


def last_fire(client: redis.Redis, name: str) -> str | None:
    """The schedule's last fire time as listings show it (ISO 8601, UTC)."""
    return ScheduleStore(client).get_stored(name).last_fire


def next_wall_time(zone: ZoneInfo, wall: datetime, after: datetime) -> datetime:
    """The first instant after ``after`` whose wall clock in ``zone`` reads ``wall``'s H:M:S."""
    day = after.astimezone(zone).date() - timedelta(days=1)
    while True:
        candidate = datetime(day.year, day.month, day.day, wall.hour, wall.minute, wall.second, tzinfo=zone)
        if candidate > after:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)


def due_score(client: redis.Redis, name: str) -> float | None:
    """The schedule's next fire in the due index (unix seconds)."""
    return client.zscore(constants.SCHEDULE_DUE_KEY, name)


def definition(client: redis.Redis, name: str) -> dict[str, object]:
    """The stored schedule definition."""
    raw = client.hget(schedule_key(name), "definition")
    assert raw is not None
    result: dict[str, object] = json.loads(raw)
    return result


def test_stored_zone_wins_over_the_schedulers_zone_and_fire_times_are_utc(chaos: Chaos) -> None:
    client = chaos.client()
    fleet = chaos.fleet
    added = fleet.cli("cron", "add", "nightly", "demo.echo", "--cron", "30 3 * * *", "--tz", "Europe/Berlin")
    assert added.returncode == 0, added.stderr
    nightly_due = due_score(client, "nightly")
    expected_nightly = next_wall_time(BERLIN, datetime(2000, 1, 1, 3, 30), datetime.now(UTC))
    assert nightly_due == expected_nightly.timestamp()

    # A trap: the same wall time read in Tokyo would fire in a few seconds; in Berlin it is hours away.
    soon = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    wall = soon.astimezone(TOKYO)
    fields = f"{wall.second} {wall.minute} {wall.hour} * * *"
    for name, zone in (("trap-berlin", "Europe/Berlin"), ("control-tokyo", "Asia/Tokyo")):
        result = fleet.cli("cron", "add", name, "demo.echo", "--cron", fields, "--tz", zone, env=WRONG_ZONE)
        assert result.returncode == 0, result.stderr
    defaulted = fleet.cli("cron", "add", "defaulted", "demo.echo", "--every", "1h", env=WRONG_ZONE)
    assert defaulted.returncode == 0, defaulted.stderr
    trap_due = due_score(client, "trap-berlin")
    assert trap_due == next_wall_time(BERLIN, wall, datetime.now(UTC)).timestamp()
    assert due_score(client, "control-tokyo") == soon.timestamp()

    fleet.start("scheduler", env=WRONG_ZONE)
    wait_for(lambda: last_fire(client, "control-tokyo"), 20, "the control schedule to fire")
    wait_for(
        lambda: (client.zscore(constants.SCHEDULE_DUE_KEY, "control-tokyo") or 0) > soon.timestamp(), 5, ""
    )

    control_runs = [json.loads(r) for r in client.lrange(runs_key("control-tokyo"), 0, -1)]
    control_last = last_fire(client, "control-tokyo")
    report(
        "clock: wrong scheduler zone",
        trap_due_utc=datetime.fromtimestamp(trap_due or 0, UTC).isoformat(),
        control_fire=control_runs[0]["fire_time"],
    )
    assert control_last == soon.isoformat()
    assert [r["fire_time"] for r in control_runs] == [soon.isoformat()]
    assert control_runs[0]["job_id"] == f"control-tokyo-{int(soon.timestamp())}"
    assert str(control_runs[0]["enqueued_at"]).endswith("+00:00")
    # The stored zones won: nothing moved, nothing fired early.
    assert last_fire(client, "trap-berlin") is None
    assert client.lrange(runs_key("trap-berlin"), 0, -1) == []
    assert due_score(client, "trap-berlin") == trap_due
    assert due_score(client, "nightly") == nightly_due
    assert definition(client, "nightly")["timezone"] == "Europe/Berlin"
    assert definition(client, "trap-berlin")["timezone"] == "Europe/Berlin"
    # A new schedule without --tz takes RQSTACK_TIMEZONE of the command that created it, and keeps it.
    assert definition(client, "defaulted")["timezone"] == "Asia/Tokyo"
    shown = fleet.cli("cron", "list", "--json")
    assert shown.returncode == 0, shown.stderr
    listing = {item["name"]: item for item in json.loads(shown.stdout)}
    assert listing["nightly"]["next_fire"] == expected_nightly.isoformat()
    assert listing["trap-berlin"]["timezone"] == "Europe/Berlin"


def test_a_zero_grace_schedule_fires_when_on_time(chaos: Chaos, tmp_path: Path) -> None:
    client = chaos.client()
    path = tmp_path / "schedules.toml"
    path.write_text(
        '[[schedule]]\nname = "strict"\njob = "demo.echo"\nevery = "1s"\n'
        'misfire = "skip"\nmisfire_grace = 0\n',
        encoding="utf-8",
    )
    applied = chaos.fleet.cli("schedules", "apply", str(path))
    assert applied.returncode == 0, applied.stderr
    chaos.fleet.start("scheduler")
    # "Skip what an outage missed" must not mean "skip everything": the scheduler is never late here.
    wait_for(lambda: client.llen("rq:queue:default") >= 3, 10, "three on-time fires of a zero-grace schedule")
    records = [json.loads(r) for r in client.lrange(runs_key("strict"), 0, -1)]
    assert not [r for r in records if r["status"] == "missed"], records[:5]
