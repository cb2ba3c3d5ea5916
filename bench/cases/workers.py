"""Worker throughput on no-op jobs and worker start-up, from a pre-filled queue, counted in Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from bench import procs, rqstack_api
from bench.config import Config
from bench.core import Kind, Measurement, Row, Sample, row
from bench.jobs import RUNS_KEY
from bench.server import BenchRedis

QUEUE = "default"


@dataclass(frozen=True)
class WorkerSetup:
    """A worker configuration: the commands to start, and how its jobs are queued."""

    name: str
    kind: Kind
    commands: Callable[[str], list[list[str]]]
    rqstack_format: bool
    fork: bool = False
    #: The peer this setup's target is about (impl prefix of the peer row).
    versus: str | None = None
    #: False for a command that runs no job (the start-up floor): timed to its exit.
    runs_job: bool = True


def _rq_simple(url: str) -> list[list[str]]:
    return [procs.rq("worker", "--burst", "--url", url, "-w", "rq.worker.SimpleWorker", "-q")]


def _rq_fork(url: str) -> list[list[str]]:
    return [procs.rq("worker", "--burst", "--url", url, "-q")]


def _rqstack_one(url: str) -> list[list[str]]:
    return [procs.rqstack("worker", "--burst")]


def _rqstack_two(url: str) -> list[list[str]]:
    flag = rqstack_api.processes_flag(2)
    if flag:
        return [procs.rqstack("worker", "--burst", *flag)]
    return [procs.rqstack("worker", "--burst"), procs.rqstack("worker", "--burst")]


def _rqstack_isolated_two(url: str) -> list[list[str]]:
    isolated = rqstack_api.isolated_flag()
    flag = rqstack_api.processes_flag(2)
    if flag:
        return [procs.rqstack("worker", "--burst", *isolated, *flag)]
    return [procs.rqstack("worker", "--burst", *isolated) for _ in range(2)]


SETUPS = [
    WorkerSetup("stock rq SimpleWorker, 1 process", "stock", _rq_simple, rqstack_format=False),
    WorkerSetup(
        "stock rq Worker (fork per job), 1 process", "stock", _rq_fork, rqstack_format=False, fork=True
    ),
    WorkerSetup(
        "rqstack worker (default), 1 process", "rqstack", _rqstack_one, rqstack_format=True, versus="huey"
    ),
    WorkerSetup(
        "rqstack worker (default), 2 processes",
        "rqstack",
        _rqstack_two,
        rqstack_format=True,
        versus="dramatiq",
    ),
    WorkerSetup(
        "rqstack worker isolated, 2 processes",
        "rqstack",
        _rqstack_isolated_two,
        rqstack_format=True,
        versus="Celery",
    ),
]


def run(config: Config) -> list[Row]:
    """Throughput of every worker setup, then start-up of the one-process setups."""
    out = []
    setups = SETUPS if not config.quick else SETUPS[:3]
    for setup in setups:
        n = config.fork_worker_jobs if setup.fork else config.worker_jobs
        out.append(
            row(
                "worker throughput, no-op jobs",
                setup.name,
                setup.kind,
                "jobs/s",
                "higher",
                lambda s, setup=setup, n=n: _throughput(s, setup, n),
                note=f"{n:,} jobs",
                versus=setup.versus,
            )
        )
    note = "bare `python -c pass`, timed just before each repeat, subtracted"
    floor = WorkerSetup(IMPORT_FLOOR, "ceiling", _import_floor, rqstack_format=False, runs_job=False)
    starters = [SETUPS[0], floor, SETUPS[2]]
    # One row for the three: their starts take turns within each repeat (see _startups).
    measurements = tuple(Measurement(STARTUP_CASE, s.name, s.kind, "s", "lower", note=note) for s in starters)
    out.append(Row(measurements, lambda s: _startups(s, starters, config.startup_repeats)))
    return out


def fill(connection: redis.Redis, n: int, *, rqstack_format: bool) -> None:
    """Queue ``bench.noop(i)`` for i < n the way each stack's producers write jobs, pipelined."""
    from rq import Queue

    if rqstack_format:
        from rqstack.serializer import JSONFirstSerializer

        queue = Queue(QUEUE, connection=connection, serializer=JSONFirstSerializer)
    else:
        queue = Queue(QUEUE, connection=connection)
    for chunk_start in range(0, n, 1000):
        with connection.pipeline() as pipe:
            queue.enqueue_many(
                [
                    Queue.prepare_data("bench.jobs.noop", args=(i,))
                    for i in range(chunk_start, min(n, chunk_start + 1000))
                ],
                pipeline=pipe,
            )
            pipe.execute()


def check_runs(connection: redis.Redis, n: int) -> tuple[bool, str]:
    """Every job number ran exactly once."""
    runs = connection.hgetall(RUNS_KEY)
    once = sum(1 for v in runs.values() if v == b"1")
    extra = sum(int(v) - 1 for v in runs.values() if int(v) > 1)
    left = connection.llen(f"rq:queue:{QUEUE}")
    ok = once == n and len(runs) == n and extra == 0 and left == 0
    return ok, f"{once}/{n} ran once, {extra} duplicates, {left} left queued"


def _throughput(server: BenchRedis, setup: WorkerSetup, n: int) -> Sample:
    connection = server.client()
    fill(connection, n, rqstack_format=setup.rqstack_format)
    first, done = run_until_done(server.url, connection, setup.commands(server.url), n)
    ok, counted = check_runs(connection, n)
    rate = (n - 1) / (done - first) if done > first else 0.0
    return Sample(rate, ok, counted, {"seconds": done - first})


def run_until_done(
    url: str, connection: redis.Redis, commands: Sequence[Sequence[str]], n: int, timeout: float = 600.0
) -> tuple[float, float]:
    """Start the workers; (when the first job was seen done, when the last one was), monotonic."""
    first = done = 0.0
    with procs.running(commands, url) as running:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = connection.hlen(RUNS_KEY)
            now = time.monotonic()
            if count and not first:
                first = now
            if count >= n:
                done = now
                break
            if all(p.poll() is not None for p in running) and connection.hlen(RUNS_KEY) < n:
                raise RuntimeError(f"workers exited after {connection.hlen(RUNS_KEY)}/{n} jobs")
            time.sleep(0.002)
        else:
            raise RuntimeError(f"only {connection.hlen(RUNS_KEY)}/{n} jobs done in {timeout:.0f} s")
        for process in running:
            try:
                process.wait(timeout=5)  # burst workers leave by themselves
            except subprocess.TimeoutExpired:
                procs.stop(process)
    return first, done


STARTUP_CASE = "worker start-up (net of python start)"
#: What any RQ worker command imports before it can run a job: the part of start-up no RQ worker avoids.
#: It leaves with os._exit: the worker rows stop their clock at the first job, before any teardown.
IMPORT_FLOOR = "floor: `python -c 'import redis, rq, click'`"


def _import_floor(url: str) -> list[list[str]]:
    return [[sys.executable, "-c", "import redis, rq, click, os; os._exit(0)"]]


def _startups(server: BenchRedis, starters: Sequence[WorkerSetup], starts: int) -> list[Sample]:
    """``starts`` starts of each starter, taking turns (A B C A B C ...) so all see the same moments.

    Start-up is nearly all interpreter and import time, which drifts by tens of percent within
    minutes on a shared machine: even rows taking turns repeat by repeat could differ by the drift.
    """
    bare = procs.bare_interpreter_start()
    connection = server.client()
    timings: list[list[float]] = [[] for _ in starters]
    ok = [True] * len(starters)
    for _ in range(starts):
        for i, starter in enumerate(starters):
            seconds, counted = _one_start(server, connection, starter)
            timings[i].append(seconds)
            ok[i] = ok[i] and counted
    samples = []
    for starter, raw_all, good in zip(starters, timings, ok, strict=True):
        raw = sorted(raw_all)[len(raw_all) // 2]
        counted = "first job done each time" if starter.runs_job else "imports only"
        samples.append(
            Sample(
                raw - bare,
                good,
                f"{len(raw_all)} starts, {counted}",
                {"raw_s": raw, "bare_python_s": bare, "all_raw_s": raw_all},
            )
        )
    return samples


def _one_start(server: BenchRedis, connection: redis.Redis, starter: WorkerSetup) -> tuple[float, bool]:
    """Seconds from spawn to the first job done (or, for the floor, to exit); whether it counted right."""
    if not starter.runs_job:
        started = time.monotonic()
        returncode = procs.spawn(starter.commands(server.url)[0], server.url).wait()
        return time.monotonic() - started, returncode == 0
    connection.delete(RUNS_KEY)
    fill(connection, 1, rqstack_format=starter.rqstack_format)
    started = time.monotonic()
    with procs.running(starter.commands(server.url), server.url) as running:
        procs.wait_until(lambda: connection.hlen(RUNS_KEY) >= 1, 30.0, 0.001)
        seconds = time.monotonic() - started
        for process in running:
            process.wait(timeout=10)
    return seconds, check_runs(connection, 1)[0]
