"""Real worker processes and real signals: SIGKILL recovery, graceful SIGTERM, cancel, CLI, stock rq."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.options import ENV_NAMES

pytestmark = pytest.mark.timeout(60)


class Workers:
    """`python -m rqstack worker` processes of one test, all stopped at its end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *flags: str) -> subprocess.Popen[bytes]:
        """A worker on the default queue with ``flags``."""
        return self.start_command("worker", *flags)

    def start_command(self, *args: str) -> subprocess.Popen[bytes]:
        """A long-running ``rqstack ARGS`` process."""
        argv = [sys.executable, "-m", "rqstack", *args]
        process = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def field(self, connection: redis.Redis, process: subprocess.Popen[bytes], name: str) -> str | None:
        """A field of the worker hash of ``process`` (found by pid)."""
        for key in connection.smembers("rq:workers"):
            if connection.hget(key, "pid") == str(process.pid).encode():
                value = connection.hget(key, name)
                return value.decode() if value else None
        return None

    def name(self, connection: redis.Redis, process: subprocess.Popen[bytes]) -> str:
        """The worker name of ``process`` (its key in ``rq:workers``, found by pid)."""
        for key in connection.smembers("rq:workers"):
            if connection.hget(key, "pid") == str(process.pid).encode():
                return key.decode().removeprefix("rq:worker:")
        raise AssertionError(f"no registered worker has pid {process.pid}")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``rqstack ARGS`` and capture its output."""
        argv = [sys.executable, "-m", "rqstack", *args]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30)

    def stop_all(self) -> None:
        """SIGKILL whatever is still running."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def workers(redis_env: dict[str, str], connection: redis.Redis) -> Iterator[Workers]:
    load_jobs()
    env = {**redis_env, ENV_NAMES["reaper_interval"]: "0.3s", "PYTHONUNBUFFERED": "1"}
    pool = Workers(env)
    yield pool
    pool.stop_all()


def status(connection: redis.Redis, job_id: str) -> str:
    value = connection.hget(f"rq:job:{job_id}", "status")
    return value.decode() if value else "missing"


def running(connection: redis.Redis, job_id: str) -> bool:
    """The job's function has begun (demo.sleep reports progress first), not merely been claimed."""
    return status(connection, job_id) == "started" and b"progress" in (
        connection.hget(f"rq:job:{job_id}", "meta") or b""
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> float:
    """Seconds until ``predicate`` held; fails the test after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.02)
    return time.monotonic() - start


def sleeper(connection: redis.Redis, seconds: float, retry: int = 0, job_id: str | None = None) -> str:
    request = EnqueueRequest(
        "demo.sleep", kwargs={"seconds": seconds, "steps": 4}, retry=retry, job_id=job_id
    )
    return enqueue(connection, request).job_id


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "isolated"])
def test_sigkilled_workers_jobs_are_retried_or_failed_quickly(
    workers: Workers, connection: redis.Redis, isolated: bool
) -> None:
    retried = sleeper(connection, 0.5, retry=1, job_id="will-retry")
    doomed = sleeper(connection, 30, job_id="will-fail")
    flags = ["--isolated"] if isolated else []
    first = workers.start(*flags, "--heartbeat", "0.2s", "--heartbeat-ttl", "1s")
    second = workers.start(*flags, "--heartbeat", "0.2s", "--heartbeat-ttl", "1s")
    wait_for(lambda: running(connection, retried) and running(connection, doomed))
    horses = [int(pid) for w in (first, second) if (pid := workers.field(connection, w, "horse_pid"))]
    assert len(horses) == (2 if isolated else 0)
    for pid in [first.pid, second.pid, *horses]:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    workers.start("--heartbeat", "0.2s", "--heartbeat-ttl", "1s")
    wait_for(lambda: status(connection, doomed) == "failed")
    recovery = time.monotonic() - killed
    assert recovery < 60
    error = connection.xrevrange(f"rq:results:{doomed}", count=1)
    assert error
    text = zlib.decompress(base64.b64decode(error[0][1][b"exc_string"])).decode()
    assert "died while running this job (no heartbeat since" in text
    wait_for(lambda: status(connection, retried) == "finished")
    assert connection.zcard("rq:wip:default") == 0
    print(f"recovery after SIGKILL: {recovery:.2f}s")


def test_a_retry_waits_its_interval_then_runs_via_the_scheduler(
    workers: Workers, connection: redis.Redis
) -> None:
    request = EnqueueRequest(
        "demo.fail", kwargs={"message": "flaky"}, retry=1, retry_intervals="0.5s", job_id="again"
    )
    job = enqueue(connection, request).job_id
    workers.start()
    wait_for(lambda: status(connection, job) == "scheduled")
    due = connection.zscore("rq:scheduled:default", job)
    assert due is not None
    workers.start_command("scheduler")
    wait_for(lambda: status(connection, job) == "failed")
    results = connection.xrange(f"rq:results:{job}")
    assert len(results) == 2
    second_start = float(results[1][1][b"execution_started_at"])
    assert second_start >= due


def test_fast_jobs_claimed_with_a_slow_one_show_finished_while_it_runs(
    workers: Workers, connection: redis.Redis
) -> None:
    fast = [enqueue(connection, EnqueueRequest("demo.add", args=[i, 1])).job_id for i in range(40)]
    slow = sleeper(connection, 3)
    workers.start()
    wait_for(lambda: running(connection, slow))
    wait_for(lambda: all(status(connection, j) == "finished" for j in fast), timeout=1.5)
    assert status(connection, slow) == "started"


def test_jobs_claimed_behind_a_slow_one_go_back_for_other_workers(
    workers: Workers, connection: redis.Redis
) -> None:
    first = enqueue(connection, EnqueueRequest("demo.add", args=[1, 1])).job_id
    slow = sleeper(connection, 3)
    behind = enqueue(connection, EnqueueRequest("demo.add", args=[2, 2])).job_id
    workers.start()
    wait_for(lambda: status(connection, first) == "finished" and running(connection, slow))
    wait_for(lambda: status(connection, behind) == "queued", timeout=2)
    workers.start()
    wait_for(lambda: status(connection, behind) == "finished", timeout=5)
    assert status(connection, slow) == "started"


def test_a_sigkilled_horse_fails_the_attempt_and_the_worker_goes_on(
    workers: Workers, connection: redis.Redis
) -> None:
    job = sleeper(connection, 0.5, retry=1)
    worker = workers.start("--isolated")
    wait_for(lambda: running(connection, job))
    horse = workers.field(connection, worker, "horse_pid")
    assert horse is not None
    os.kill(int(horse), signal.SIGKILL)
    wait_for(lambda: status(connection, job) == "finished")
    first = connection.xrange(f"rq:results:{job}", count=1)[0][1][b"exc_string"]
    assert "HorseDied" in zlib.decompress(base64.b64decode(first)).decode()
    assert worker.poll() is None


def test_the_worker_survives_a_redis_restart(redis_env: dict[str, str], own_redis: Any) -> None:
    load_jobs()
    client = own_redis.client()
    pool = Workers({**redis_env, "REDIS_URL": own_redis.url})
    try:
        worker = pool.start()
        before = enqueue(client, EnqueueRequest("demo.add", args=[1, 1])).job_id
        wait_for(lambda: status(client, before) == "finished")
        own_redis.stop()
        time.sleep(1.0)
        own_redis.start()
        client = own_redis.client()
        after = enqueue(client, EnqueueRequest("demo.add", args=[2, 2])).job_id
        wait_for(lambda: status(client, after) == "finished")
        assert worker.poll() is None
    finally:
        pool.stop_all()


def test_sigterm_lets_the_running_job_finish(workers: Workers, connection: redis.Redis) -> None:
    job = sleeper(connection, 1.0)
    worker = workers.start("--shutdown-grace", "10s")
    wait_for(lambda: running(connection, job))
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert status(connection, job) == "finished"
    assert connection.zcard("rq:wip:default") == 0


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "isolated"])
def test_sigterm_requeues_a_job_that_outlives_the_grace(
    workers: Workers, connection: redis.Redis, isolated: bool
) -> None:
    job = sleeper(connection, 30, retry=2)
    worker = workers.start("--shutdown-grace", "0.5s", *(["--isolated"] if isolated else []))
    wait_for(lambda: running(connection, job))
    behind = sleeper(connection, 1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert status(connection, job) == "queued"
    assert connection.lrange("rq:queue:default", 0, -1) == [job.encode(), behind.encode()]
    assert connection.hget(f"rq:job:{job}", "retries_left") == b"2"
    assert connection.zcard("rq:wip:default") == 0


def test_a_second_signal_requeues_at_once(workers: Workers, connection: redis.Redis) -> None:
    job = sleeper(connection, 30)
    worker = workers.start("--shutdown-grace", "60s")
    wait_for(lambda: running(connection, job))
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=10) == 0
    assert status(connection, job) == "queued"


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "isolated"])
def test_cancel_stops_a_running_job_and_the_worker_goes_on(
    workers: Workers, connection: redis.Redis, isolated: bool
) -> None:
    job = sleeper(connection, 30)
    workers.start(*(["--isolated"] if isolated else []))
    wait_for(lambda: running(connection, job))
    done = workers.cli("job", "cancel", job)
    assert done.returncode == 0, done.stderr
    assert "canceled" in done.stdout
    assert status(connection, job) == "canceled"
    assert connection.zscore("rq:canceled:default", job) is not None
    after = enqueue(connection, EnqueueRequest("demo.add", args=[1, 2])).job_id
    wait_for(lambda: status(connection, after) == "finished")


def test_cli_cancel_of_an_unknown_job_exits_2(workers: Workers) -> None:
    assert workers.cli("job", "cancel", "no-such-job").returncode == 2


def test_cli_unique_enqueue_prints_the_existing_id(workers: Workers, connection: redis.Redis) -> None:
    first = workers.cli("enqueue", "demo.echo", "user-42", "--unique")
    second = workers.cli("enqueue", "demo.echo", "user-42", "--unique")
    assert first.returncode == second.returncode == 0
    assert first.stdout.strip() == second.stdout.strip()
    assert connection.llen("rq:queue:default") == 1


def test_stock_rq_worker_runs_rqstack_jobs(workers: Workers, connection: redis.Redis) -> None:
    job = enqueue(connection, EnqueueRequest("demo.add", args=[20, 22])).job_id
    serializer = f"{JSONFirstSerializer.__module__}.{JSONFirstSerializer.__qualname__}"
    rq = [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--serializer", serializer]
    subprocess.run([*rq, "--url", workers.env["REDIS_URL"]], env=workers.env, check=True, capture_output=True)
    assert status(connection, job) == "finished"


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "isolated"])
def test_stock_rq_info_sees_rqstack_workers_queues_and_jobs(
    workers: Workers, connection: redis.Redis, isolated: bool
) -> None:
    flags = ["--isolated"] if isolated else []
    busy = workers.start(*flags)
    idle = workers.start(*flags, "reports")
    wait_for(lambda: workers.field(connection, idle, "state") == "idle")
    running_job = sleeper(connection, 5.0)
    wait_for(lambda: running(connection, running_job))
    waiting = [sleeper(connection, 5.0) for _ in range(2)]
    wait_for(lambda: all(status(connection, job) == "queued" for job in waiting))
    rq = str(Path(sys.executable).parent / "rq")
    shown = subprocess.run(
        # Named: without queue names rq info lists only queues that ever held a job, and their workers.
        [rq, "info", "--raw", "--url", workers.env["REDIS_URL"], "default", "reports"],
        env=workers.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "queue default 2, 1 executing" in shown, shown
    assert "queue reports 0, 0 executing" in shown, shown
    lines = {line.split()[1]: line for line in shown.splitlines() if line.startswith("worker ")}
    for process, state, queue in ((busy, "busy", "default"), (idle, "idle", "reports")):
        line = lines[workers.name(connection, process)]
        # name (hostname ip:port pid) state queues, as stock RQ's own workers show.
        host, address, pid = line.split("(", 1)[1].split(")", 1)[0].split()
        assert host and pid == str(process.pid), line
        assert address.startswith("127.0.0.1:"), line
        assert f") {state} {queue}." in line, line
