"""Worker faults with real signals: a job is retried or visibly failed, never stuck in "started" > 60 s."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import redis

from chaos.conftest import (
    FAST_BEAT,
    STUCK_BOUND_SECONDS,
    Chaos,
    finished_runs,
    job_status,
    last_error,
    mark,
    report,
    started_runs,
    wait_for,
)
from rqstack import constants
from rqstack.worker.options import WorkerOptions

pytestmark = pytest.mark.timeout(120)


def horse_pid(client: redis.Redis, worker: subprocess.Popen[bytes]) -> int | None:
    """The horse pid the isolated ``worker`` published in its RQ worker hash."""
    for key in client.smembers(constants.RQ_WORKERS_KEY):
        if client.hget(key, "pid") == str(worker.pid).encode():
            pid = client.hget(key, "horse_pid")
            return int(pid) if pid else None
    return None


def running(client: redis.Redis, job_id: str, times: int = 1) -> bool:
    """The job's function has begun ``times`` times and it is marked started."""
    return started_runs(client)[job_id] >= times and job_status(client, job_id) == "started"


def moved_on(client: redis.Redis, job_id: str) -> bool:
    """The killed run is settled: the job failed, waits for its retry, or began its retry."""
    return job_status(client, job_id) != "started" or started_runs(client)[job_id] >= 2


def alive(pid: int) -> bool:
    """True while a process with ``pid`` exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_default_configuration_bounds_a_dead_workers_job_within_60s() -> None:
    options = WorkerOptions()
    # The dead worker's entry expires heartbeat_ttl after its last beat; some live worker's reaper looks
    # every reaper_interval, at its own heartbeat tick.
    bound = options.heartbeat_ttl + options.reaper_interval + options.heartbeat
    assert bound <= STUCK_BOUND_SECONDS, bound
    assert options.heartbeat_ttl >= 2 * options.heartbeat  # live jobs are never reaped


def test_sigkilled_horse_retries_or_fails_and_the_worker_goes_on(chaos: Chaos) -> None:
    client = chaos.client()
    retried = mark(client, 2.0, retry=1, job_id="horse-retried")
    doomed = mark(client, 30.0, job_id="horse-doomed")
    worker = chaos.fleet.start("worker", "--isolated", *FAST_BEAT)
    outcomes = {}
    for job_id in (retried, doomed):
        wait_for(lambda j=job_id: running(client, j), 20, f"{job_id} to run in the horse")
        pid = horse_pid(client, worker)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        outcomes[job_id] = wait_for(
            lambda j=job_id: moved_on(client, j), STUCK_BOUND_SECONDS, f"{job_id} to be retried or failed"
        )
    wait_for(lambda: job_status(client, retried) == "finished", 20, "the retried job to finish")
    assert job_status(client, doomed) == "failed"
    assert "HorseDied" in last_error(client, doomed)
    assert started_runs(client) == {retried: 2, doomed: 1}
    assert finished_runs(client) == {retried: 1}
    assert worker.poll() is None, "the worker died with its horse"
    assert client.zcard(constants.RQ_STARTED_REGISTRY_PREFIX + "default") == 0
    report("horse SIGKILL", settled_s=round(max(outcomes.values()), 2))


@pytest.mark.parametrize("beat", ["short-heartbeat", "default-heartbeat"])
def test_sigkilled_workers_and_horses_jobs_are_retried_or_failed(chaos: Chaos, beat: str) -> None:
    client = chaos.client()
    flags = FAST_BEAT if beat == "short-heartbeat" else ()
    retried = mark(client, 2.0, retry=1, job_id="worker-retried")
    doomed = mark(client, 120.0, job_id="worker-doomed")
    first = chaos.fleet.start("worker", "--isolated", *flags)
    wait_for(lambda: running(client, retried), 20, "the first job to run")
    second = chaos.fleet.start("worker", "--isolated", *flags)
    wait_for(lambda: running(client, doomed), 20, "the second job to run")
    horses = {w.pid: horse_pid(client, w) for w in (first, second)}
    assert all(horses.values()), horses
    # The first worker dies with its horse; the second alone: its horse must follow it (PDEATHSIG).
    os.kill(horses[first.pid] or 0, signal.SIGKILL)
    chaos.fleet.kill(first)
    chaos.fleet.kill(second)
    killed = time.monotonic()
    orphan = horses[second.pid] or 0
    wait_for(lambda: not alive(orphan), 2, "the orphaned horse to die with its worker")
    chaos.fleet.start("worker", *flags)
    settled = wait_for(
        lambda: job_status(client, doomed) == "failed" and moved_on(client, retried),
        STUCK_BOUND_SECONDS,
        "the dead workers' jobs to leave 'started'",
        poll=0.05,
    )
    assert "died while running this job" in last_error(client, doomed)
    wait_for(lambda: job_status(client, retried) == "finished", 20, "the retried job to finish")
    assert started_runs(client) == {retried: 2, doomed: 1}
    assert finished_runs(client) == {retried: 1}, "a killed run went on after its worker died"
    assert client.zcard(constants.RQ_STARTED_REGISTRY_PREFIX + "default") == 0
    report(f"worker+horse SIGKILL ({beat})", settled_s=round(settled, 2))
    assert time.monotonic() - killed < STUCK_BOUND_SECONDS


def test_double_sigterm_requeues_at_once_and_the_job_runs_again(chaos: Chaos) -> None:
    client = chaos.client()
    job = mark(client, 3.0, job_id="double-term")
    worker = chaos.fleet.start("worker", "--shutdown-grace", "60s")
    wait_for(lambda: running(client, job), 20, "the job to run")
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    assert worker.wait(timeout=10) == 0
    exited = time.monotonic() - stopped
    report("double SIGTERM", exit_after_second_signal_s=round(exited, 2))
    assert exited < 5, "the second SIGTERM did not stop the worker at once"
    assert job_status(client, job) == "queued"
    assert client.lrange(constants.RQ_QUEUE_KEY_PREFIX + "default", 0, -1) == [job.encode()]
    assert client.zcard(constants.RQ_STARTED_REGISTRY_PREFIX + "default") == 0
    chaos.fleet.start("worker")
    wait_for(lambda: job_status(client, job) == "finished", 20, "the requeued job to finish")
    assert started_runs(client) == {job: 2}
    assert finished_runs(client) == {job: 1}


@pytest.mark.parametrize("mode", ["in-process", "isolated"])
def test_sigterm_with_a_long_job_requeues_it_within_the_grace(chaos: Chaos, mode: str) -> None:
    client = chaos.client()
    job = mark(client, 600.0, job_id=f"long-{mode}")
    flags = ["--isolated"] if mode == "isolated" else []
    worker = chaos.fleet.start("worker", "--shutdown-grace", "1s", *flags)
    wait_for(lambda: running(client, job), 20, "the long job to run")
    worker.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert worker.wait(timeout=15) == 0
    report(f"SIGTERM, long job ({mode}, grace 1 s)", exit_after_s=round(time.monotonic() - signalled, 2))
    assert job_status(client, job) == "queued"
    assert client.zcard(constants.RQ_STARTED_REGISTRY_PREFIX + "default") == 0
    assert client.zcard(constants.RQ_FAILED_REGISTRY_PREFIX + "default") == 0
    # Another worker takes it up again: requeued work is not lost.
    chaos.fleet.start("worker", *flags)
    wait_for(lambda: running(client, job, times=2), 20, "the requeued job to run again")
    assert finished_runs(client) == {}
