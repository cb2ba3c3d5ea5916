"""Redis memory per job: INFO used_memory delta / N, for queued jobs and for finished ones."""

from __future__ import annotations

from bench import rqstack_api
from bench.cases.workers import SETUPS, WorkerSetup, check_runs, run_until_done
from bench.config import Config
from bench.core import Row, Sample, row
from bench.jobs import RUNS_KEY
from bench.server import BenchRedis


def run(config: Config) -> list[Row]:
    """Bytes per queued and per finished job, stock rq against rqstack."""
    n = config.memory_jobs
    return [
        row(
            "Redis bytes per queued job",
            "stock rq Queue.enqueue()",
            "stock",
            "bytes",
            "lower",
            lambda s: _queued(s, n, rqstack=False),
        ),
        row(
            "Redis bytes per queued job",
            "rqstack enqueue()",
            "rqstack",
            "bytes",
            "lower",
            lambda s: _queued(s, n, rqstack=True),
        ),
        row(
            "Redis bytes per finished job",
            "stock rq SimpleWorker",
            "stock",
            "bytes",
            "lower",
            lambda s: _finished(s, n, SETUPS[0]),
            note="result_ttl 500 s (RQ default)",
        ),
        row(
            "Redis bytes per finished job",
            "rqstack worker",
            "rqstack",
            "bytes",
            "lower",
            lambda s: _finished(s, n, SETUPS[2]),
            note="result kept 7 days (rqstack default)",
        ),
    ]


def _used(server: BenchRedis) -> int:
    return int(server.client().info("memory")["used_memory"])


def _enqueue(server: BenchRedis, n: int, *, rqstack: bool) -> None:
    connection = server.client()
    if rqstack:
        enqueue = rqstack_api.enqueue_one()
        for i in range(n):
            enqueue(connection, "bench.noop", [i])
    else:
        from rq import Queue

        from bench.jobs import noop

        queue = Queue("default", connection=connection)
        for i in range(n):
            queue.enqueue(noop, i)


def _queued(server: BenchRedis, n: int, *, rqstack: bool) -> Sample:
    connection = server.client()
    connection.ping()
    before = _used(server)
    _enqueue(server, n, rqstack=rqstack)
    after = _used(server)
    queued = connection.llen("rq:queue:default")
    return Sample((after - before) / n, queued == n, f"{queued}/{n} queued", {"delta_bytes": after - before})


def _finished(server: BenchRedis, n: int, setup: WorkerSetup) -> Sample:
    connection = server.client()
    before = _used(server)
    _enqueue(server, n, rqstack=setup.rqstack_format)
    run_until_done(server.url, connection, setup.commands(server.url), n)
    ok, counted = check_runs(connection, n)
    # The bench's own exactly-once counter is not the stack's memory: take it out.
    runs_bytes = int(connection.memory_usage(RUNS_KEY) or 0)
    connection.delete(RUNS_KEY)
    after = _used(server)
    return Sample(
        (after - before) / n, ok, counted, {"delta_bytes": after - before, "runs_hash_bytes": runs_bytes}
    )
