"""Real `rqstack scheduler` processes: SIGKILL of the leader in a loop, a Redis restart, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rqstack import constants

RQSTACK = str(Path(sys.executable).parent / "rqstack")


class Fleet:
    """Scheduler processes against one redis-server, with their logs kept for failures."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.env = {**os.environ, "REDIS_URL": url, "RQSTACK_DATA_DIR": str(logs / "data")}

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"scheduler-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen([RQSTACK, "scheduler"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes[process.pid] = process
        return process

    def run_cli(self, *args: str) -> None:
        subprocess.run([RQSTACK, *args], env=self.env, check=True, capture_output=True)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(5)


@pytest.fixture
def fleet(own_redis: object, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(own_redis.url, tmp_path)  # type: ignore[attr-defined]
    yield fleet
    fleet.stop_all()


def leader_pid(client: redis.Redis) -> int | None:
    owner = client.get(constants.SCHEDULER_LEADER_KEY)
    return None if owner is None else int(owner.decode().rsplit("-", 2)[1])


def wait_for(predicate: object, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.005)
    raise AssertionError(f"condition not met within {timeout} s")


def fired_ids(client: redis.Redis, queue: str = "default") -> list[str]:
    return [i.decode() for i in client.lrange(constants.RQ_QUEUE_KEY_PREFIX + queue, 0, -1)]


def test_sigkill_leader_in_a_loop_no_duplicates_fast_takeover(fleet: Fleet, own_redis: object) -> None:
    client = own_redis.client()  # type: ignore[attr-defined]
    fleet.run_cli("cron", "add", "tick", "demo.echo", "--every", "1s")
    for _ in range(3):
        fleet.start()
    wait_for(lambda: leader_pid(client) is not None, 10)
    takeovers = []
    for _ in range(4):
        time.sleep(1.0)
        victim = leader_pid(client)
        assert victim is not None
        fleet.processes[victim].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        fleet.processes[victim].wait(5)
        wait_for(lambda v=victim: leader_pid(client) not in (None, v), 5)
        takeovers.append(time.monotonic() - killed_at)
        fleet.start()
    time.sleep(1.5)
    ids = fired_ids(client)
    assert len(ids) == len(set(ids)), "a fire was enqueued twice"
    stamps = sorted(int(i.rsplit("-", 1)[1]) for i in ids)
    assert stamps == list(range(stamps[0], stamps[0] + len(stamps))), "a fire was lost"
    assert max(takeovers) < 2.0, takeovers
    print(f"takeover after SIGKILL: max {max(takeovers):.3f} s, all {[round(t, 3) for t in takeovers]}")


def test_redis_restart_scheduler_reconnects_and_resumes(fleet: Fleet, own_redis: object) -> None:
    client = own_redis.client()  # type: ignore[attr-defined]
    fleet.run_cli("cron", "add", "tick", "demo.echo", "--every", "1s")
    process = fleet.start()
    wait_for(lambda: len(fired_ids(client)) >= 2, 10)
    own_redis.stop()  # type: ignore[attr-defined]
    time.sleep(2.5)
    own_redis.start()  # type: ignore[attr-defined]
    client = own_redis.client()  # type: ignore[attr-defined]
    before = len(fired_ids(client))
    wait_for(lambda: len(fired_ids(client)) >= before + 3, 10)
    assert process.poll() is None, "the scheduler exited when Redis went away"
    ids = fired_ids(client)
    assert len(ids) == len(set(ids))
    stamps = sorted(int(i.rsplit("-", 1)[1]) for i in ids)
    # Fires missed while Redis was down are within the grace window: misfire "once" replays them.
    assert stamps == list(range(stamps[0], stamps[0] + len(stamps)))


def test_sigterm_releases_the_lease_and_exits_0(fleet: Fleet, own_redis: object) -> None:
    client = own_redis.client()  # type: ignore[attr-defined]
    first = fleet.start()
    wait_for(lambda: leader_pid(client) == first.pid, 10)
    second = fleet.start()
    time.sleep(0.3)
    first.send_signal(signal.SIGTERM)
    assert first.wait(5) == 0
    # Released, not expired: the follower takes over within its poll interval.
    wait_for(lambda: leader_pid(client) == second.pid, 1.0)


def test_scheduler_started_before_redis_waits_for_it(fleet: Fleet, own_redis: object) -> None:
    fleet.run_cli("cron", "add", "tick", "demo.echo", "--every", "1s")
    own_redis.stop()  # type: ignore[attr-defined]
    process = fleet.start()
    time.sleep(1.0)
    assert process.poll() is None, "the scheduler gave up while Redis was down"
    own_redis.start()  # type: ignore[attr-defined]
    client = own_redis.client()  # type: ignore[attr-defined]
    wait_for(lambda: len(fired_ids(client)) >= 1, 10)
