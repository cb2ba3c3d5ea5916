"""Redis stopped (10 s, and a long outage) and restarted from its AOF under a running stack.

Every process (two workers, two schedulers, the dashboard) must work again within 10 s of Redis's
return; the misfire policies decide what runs for the fires the outage swallowed (skip: none,
once: one, all: every one); no tick runs twice; a job running across the outage finishes once.
The long outage is 30 s by default (the tier's time budget); RQSTACK_CHAOS_LONG=1 makes it 3 minutes.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

import pytest
import redis

from chaos.conftest import (
    RECONNECT_BOUND_SECONDS,
    Chaos,
    duplicates,
    finished_runs,
    healthy,
    http,
    job_status,
    last_error,
    mark,
    report,
    start_dashboard,
    started_runs,
    wait_for,
)
from chaos.jobs import FAILURE_TEXT
from rqstack import constants
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore, runs_key
from rqstack.worker.enqueue import EnqueueRequest, enqueue

LONG_OUTAGE_SECONDS = 180.0 if os.environ.get("RQSTACK_CHAOS_LONG") == "1" else 30.0
POLICIES = ("skip", "once", "all")
#: A fire older than this when the scheduler sees it again is late, and its policy decides.
GRACE_SECONDS = 1.0
#: Fires of the "burst" schedules, in seconds after Redis went down (all inside the outage).
BURST_OFFSETS = (2, 4, 6)

pytestmark = pytest.mark.timeout(LONG_OUTAGE_SECONDS + 150)


def create_schedules(client: redis.Redis, kind: str, down_at: int = 0) -> None:
    """Per policy: `tick-P` every second, or `burst-P` firing only at BURST_OFFSETS into the outage."""
    store = ScheduleStore(client)
    seconds = ",".join(str((down_at + offset) % 60) for offset in BURST_OFFSETS)
    # Pinned to this minute of this day, so an outage of minutes does not see the burst come round again.
    at = datetime.fromtimestamp(down_at, UTC)
    when = f"{seconds} {at.minute} {at.hour} {at.day} {at.month} *"
    for policy in POLICIES:
        common = {"job": "chaos.mark", "misfire": policy, "misfire_grace": GRACE_SECONDS}
        if kind == "tick":
            store.create(Schedule(name=f"tick-{policy}", every=1.0, **common))  # type: ignore[arg-type]
        else:
            store.create(Schedule(name=f"burst-{policy}", cron=when, **common))  # type: ignore[arg-type]


def executed(client: redis.Redis, name: str) -> list[int]:
    """Fire times (unix s) of ``name`` that ran, with repeats."""
    out = []
    for job_id in client.lrange("chaos:ran", 0, -1):
        schedule, stamp = job_id.decode().rsplit("-", 1)
        if schedule == name:
            out.append(int(stamp))
    return sorted(out)


def missed_records(client: redis.Redis, name: str) -> int:
    """How many fires the scheduler recorded as missed in ``name``'s history."""
    records = [json.loads(r) for r in client.lrange(runs_key(name), 0, -1)]
    return sum(int(r.get("count", 0)) for r in records if r.get("status") == "missed")


def last_tick_after(client: redis.Redis, moment: float) -> bool:
    """The scheduler recorded a tick later than ``moment``."""
    value = client.hget(constants.SCHEDULER_STATE_KEY, "last_tick")
    return value is not None and datetime.fromisoformat(value.decode()).timestamp() > moment


@pytest.mark.parametrize("outage", [10.0, LONG_OUTAGE_SECONDS], ids=["10s", f"{LONG_OUTAGE_SECONDS:g}s"])
def test_every_process_reconnects_and_misfire_policies_apply(chaos: Chaos, outage: float) -> None:
    client = chaos.client()
    fleet = chaos.fleet
    create_schedules(client, "tick")
    for _ in range(2):
        fleet.start("worker")
        fleet.start("scheduler")
    base = start_dashboard(fleet)
    wait_for(lambda: len(executed(client, "tick-all")) >= 2, 20, "the schedules to fire")
    # Redis goes down at a whole second just ahead, so the burst fires are known in advance.
    down_at = int(time.time()) + 3
    if down_at % 60 > 59 - max(BURST_OFFSETS):
        down_at += 60 - down_at % 60  # keep the burst fires inside one minute
    create_schedules(client, "burst", down_at)
    # Runs from now until 6 s after Redis is back.
    long_job = mark(client, down_at - time.time() + outage + 6.0, job_id="across-the-outage")
    wait_for(lambda: started_runs(client)[long_job] == 1, 2, "the long job to start")
    # Fails while Redis is away: its outcome must be recorded once Redis is back, with its own error.
    fail_in = down_at - time.time() + 3.0
    failing = enqueue(client, EnqueueRequest("chaos.fail_after", kwargs={"seconds": fail_in})).job_id
    wait_for(lambda: started_runs(client)[failing] == 1, 2, "the failing job to start")
    assert time.time() < down_at, "setup overran the planned outage start"
    time.sleep(down_at - time.time())
    chaos.server.stop()
    down = time.time()
    assert http("GET", base + "/api/health").status == 503
    time.sleep(max(0.0, down + outage - time.time()))
    chaos.server.start()
    up = time.time()
    client = chaos.client()
    probe = mark(client, 0.0, job_id="after-the-outage")
    back = {}
    for what, predicate in (
        ("dashboard", lambda: healthy(base)),
        ("scheduler", lambda: last_tick_after(client, up)),
        ("worker", lambda: finished_runs(client)[probe] == 1),
    ):
        wait_for(predicate, 30, f"the {what} to work again", poll=0.05)
        back[what] = time.time() - up  # an upper bound: the waits run one after the other
    time.sleep(3.0)  # a few on-time fires after the return
    wait_for(
        lambda: job_status(client, long_job) not in ("queued", "started"), outage + 30, "the long job to end"
    )

    ran = [i.decode() for i in client.lrange("chaos:ran", 0, -1)]
    burst = {policy: executed(client, f"burst-{policy}") for policy in POLICIES}
    ticks = {policy: executed(client, f"tick-{policy}") for policy in POLICIES}
    outage_stamps = set(range(int(down) + 1, int(up) - 1))
    report(
        f"Redis outage {outage:g}s",
        back_within_s={what: round(seconds, 2) for what, seconds in back.items()},
        burst_runs={p: len(b) for p, b in burst.items()},
        tick_runs_during_outage={p: len(outage_stamps & set(t)) for p, t in ticks.items()},
        outage_ticks=len(outage_stamps),
        duplicates=len(duplicates(ran)),
        job_across_outage=job_status(client, long_job),
    )
    for process in fleet.processes:
        assert process.poll() is None, "a process exited while Redis was away"
    assert max(back.values()) < RECONNECT_BOUND_SECONDS, back
    assert not duplicates(ran), duplicates(ran)
    # The long job ran once, to its end: the outage did not get it reaped and retried.
    assert job_status(client, long_job) == "finished", last_error(client, long_job)
    assert FAILURE_TEXT in last_error(client, failing), last_error(client, failing)
    assert started_runs(client)[failing] == 1
    assert started_runs(client)[long_job] == 1
    assert finished_runs(client)[long_job] == 1
    fires = [down_at + offset for offset in BURST_OFFSETS]
    assert burst["skip"] == [], burst
    assert missed_records(client, "burst-skip") == len(fires)
    assert burst["once"] == [fires[-1]], burst
    assert missed_records(client, "burst-once") == len(fires) - 1
    assert burst["all"] == fires, burst
    # Every-second schedules: "all" replays the whole outage, "skip" and "once" leave the late part out.
    assert outage_stamps <= set(ticks["all"])
    assert set(range(ticks["all"][0], ticks["all"][-1] + 1)) == set(ticks["all"])
    for policy in ("skip", "once"):
        late = set(range(int(down) + 1, int(up) - 2))
        assert not late & set(ticks[policy]), (policy, sorted(late & set(ticks[policy])))
    assert datetime.now(UTC).timestamp() - up < outage + 60
