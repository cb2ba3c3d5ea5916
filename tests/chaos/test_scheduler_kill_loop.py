"""Three schedulers, 100 schedules firing every second, a random one SIGKILLed every 1-3 s for 2 minutes.

Executions are counted on the worker side (each run RPUSHes its job id): every (schedule, fire time)
must run exactly once - no duplicate, and no gap, since misfire "once" with its 60 s grace replays
fires a dead leader left behind.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import defaultdict

import pytest
import redis

from chaos.conftest import Chaos, duplicates, finished_runs, report, wait_for
from rqstack import constants
from rqstack.sched.control import pause_scheduler
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore

SCHEDULES = 100
LOOP_SECONDS = 120.0
SCHEDULERS = 3
#: Stamps this close to the loop's start or end are left out of the gap check (edge effects only).
EDGE_SECONDS = 3

pytestmark = pytest.mark.timeout(LOOP_SECONDS + 120)


def leader_pid(client: redis.Redis) -> int | None:
    """The pid named in the leader lease (owner token ``host-pid-random``)."""
    owner = client.get(constants.SCHEDULER_LEADER_KEY)
    return None if owner is None else int(owner.decode().rsplit("-", 2)[1])


def create_schedules(client: redis.Redis) -> list[str]:
    """Half `every 1s`, half six-field cron `* * * * * *`, all running chaos.mark."""
    store = ScheduleStore(client)
    names = []
    for index in range(SCHEDULES):
        name = f"tick-{index:03d}"
        if index % 2:
            schedule = Schedule(name=name, job="chaos.mark", every=1.0)
        else:
            schedule = Schedule(name=name, job="chaos.mark", cron="* * * * * *")
        store.create(schedule)
        names.append(name)
    return names


def test_sigkill_loop_over_three_schedulers_no_duplicate_no_gap(chaos: Chaos) -> None:
    client = chaos.client()
    fleet = chaos.fleet
    names = create_schedules(client)
    for _ in range(2):
        fleet.start("worker")
    schedulers: dict[int, subprocess.Popen[bytes]] = {}
    for _ in range(SCHEDULERS):
        process = fleet.start("scheduler")
        schedulers[process.pid] = process
    wait_for(lambda: leader_pid(client) in schedulers, 20, "a leader")
    wait_for(lambda: len(finished_runs(client)) >= SCHEDULES, 20, "the first fires to run")
    began = time.time()
    rng = random.Random(8)
    kills = leader_kills = 0
    takeovers: list[float] = []
    while time.time() - began < LOOP_SECONDS:
        time.sleep(rng.uniform(1.0, 3.0))
        leader = leader_pid(client)
        if leader in schedulers and rng.random() < 0.75:
            victim = leader
            leader_kills += 1
        else:
            victim = rng.choice(list(schedulers))
        process = schedulers.pop(victim)
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        process.wait(timeout=10)
        kills += 1
        fresh = fleet.start("scheduler")
        schedulers[fresh.pid] = fresh
        if victim == leader:
            wait_for(lambda v=victim: leader_pid(client) not in (None, v), 10, "a new leader", poll=0.005)
            takeovers.append(time.monotonic() - killed)
    ended = time.time()
    # Freeze: no more fires, then let the workers drain what was enqueued.
    pause_scheduler(client)
    time.sleep(1.5)
    queue = constants.RQ_QUEUE_KEY_PREFIX + "default"
    wait_for(
        lambda: (
            client.llen(queue) == 0 and client.zcard(constants.RQ_STARTED_REGISTRY_PREFIX + "default") == 0
        ),
        60,
        "the workers to drain the queue",
        poll=0.1,
    )
    ran = [i.decode() for i in client.lrange("chaos:ran", 0, -1)]
    doubled = duplicates(ran)
    stamps: dict[str, set[int]] = defaultdict(set)
    for job_id in ran:
        name, stamp = job_id.rsplit("-", 1)
        stamps[name].add(int(stamp))
    window = range(int(began) + EDGE_SECONDS, int(ended) - EDGE_SECONDS)
    missed = {name: sorted(set(window) - stamps[name]) for name in names}
    missed_total = sum(len(m) for m in missed.values())
    failed = client.zcard(constants.RQ_FAILED_REGISTRY_PREFIX + "default")
    report(
        "3 schedulers, SIGKILL loop",
        seconds=round(ended - began, 1),
        kills=kills,
        leader_kills=leader_kills,
        executions=len(ran),
        expected_in_window=len(window) * SCHEDULES,
        duplicates=len(doubled),
        missed=missed_total,
        failed_jobs=failed,
        takeover_max_s=round(max(takeovers, default=0.0), 3),
        takeover_p50_s=round(sorted(takeovers)[len(takeovers) // 2] if takeovers else 0.0, 3),
    )
    assert not doubled, f"fires executed twice: {dict(list(doubled.items())[:10])}"
    assert missed_total == 0, {n: m for n, m in missed.items() if m}
    assert failed == 0
    assert leader_kills >= 20, "the loop killed too few leaders to prove anything"
    assert max(takeovers) < 2.0, takeovers
