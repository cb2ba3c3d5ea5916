"""Enqueue rate from a producer process: single calls, bulk calls, and redis-py's pipelined ceiling."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from bench import rqstack_api
from bench.config import Config
from bench.core import Row, Sample, Unavailable, row
from bench.server import BenchRedis

QUEUE_KEY = "rq:queue:default"
CHUNK = 1000
_TOKEN = "bench-token"


def run(config: Config) -> list[Row]:
    """Single and bulk enqueue cases."""
    n = config.enqueue_jobs
    single = "enqueue, one call per job"
    bulk = f"enqueue, bulk ({CHUNK} per call)"
    return [
        row(
            single,
            "stock rq Queue.enqueue()",
            "stock",
            "jobs/s",
            "higher",
            lambda s: _timed(s, n, _stock_single),
        ),
        row(
            single,
            "rqstack enqueue(EnqueueRequest)",
            "rqstack",
            "jobs/s",
            "higher",
            lambda s: _timed(s, n, _rqstack_single),
            note="checks params against the registry",
            versus="huey",
        ),
        row(
            bulk,
            "redis-py pipeline HSET+LPUSH (ceiling)",
            "ceiling",
            "jobs/s",
            "higher",
            lambda s: _timed(s, n, _pipeline_ceiling),
            note="same job hash, no RQ code",
        ),
        row(
            bulk,
            "stock rq Queue.enqueue_many()",
            "stock",
            "jobs/s",
            "higher",
            lambda s: _timed(s, n, _stock_bulk),
        ),
        row(
            bulk,
            "rqstack bulk Python API",
            "rqstack",
            "jobs/s",
            "higher",
            lambda s: _timed(s, n, _rqstack_bulk),
        ),
        row(
            bulk,
            "rqstack POST /api/jobs [list]",
            "rqstack",
            "jobs/s",
            "higher",
            lambda s: _timed(s, n, _api_bulk),
            note="Flask test client in-process: the endpoint's own cost, no HTTP server",
        ),
    ]


Producer = Callable[[BenchRedis, int], Callable[[], None]]


def _timed(server: BenchRedis, n: int, producer: Producer) -> Sample:
    connection = server.client()
    go = producer(server, n)  # set-up (imports, app, templates) before the clock starts
    started = time.perf_counter()
    go()
    elapsed = time.perf_counter() - started
    queued = connection.lrange(QUEUE_KEY, 0, -1)
    hashes = _count_job_hashes(connection)
    ok = len(queued) == n == len(set(queued)) and hashes >= n
    return Sample(
        n / elapsed,
        ok,
        f"{len(queued)}/{n} queued, {len(set(queued))} distinct, {hashes} job hashes",
        {"seconds": elapsed},
    )


def _count_job_hashes(connection: redis.Redis) -> int:
    return sum(1 for _ in connection.scan_iter("rq:job:*", count=5000))


def _stock_single(server: BenchRedis, n: int) -> Callable[[], None]:
    from rq import Queue

    from bench.jobs import noop

    queue = Queue("default", connection=server.client())

    def go() -> None:
        for i in range(n):
            queue.enqueue(noop, i)

    return go


def _rqstack_single(server: BenchRedis, n: int) -> Callable[[], None]:
    enqueue = rqstack_api.enqueue_one()
    connection = server.client()

    def go() -> None:
        for i in range(n):
            enqueue(connection, "bench.noop", [i])

    return go


def _pipeline_ceiling(server: BenchRedis, n: int) -> Callable[[], None]:
    from rq import Queue

    from bench.jobs import noop

    connection = server.client()
    template = Queue("template", connection=connection).enqueue(noop, 0)
    fields = connection.hgetall(f"rq:job:{template.id}")
    connection.delete(f"rq:job:{template.id}", "rq:queue:template")
    connection.srem("rq:queues", "rq:queue:template")

    def go() -> None:
        for start in range(0, n, CHUNK):
            with connection.pipeline(transaction=False) as pipe:
                for i in range(start, min(n, start + CHUNK)):
                    pipe.hset(f"rq:job:p{i}", mapping=fields)
                    pipe.lpush(QUEUE_KEY, f"p{i}")
                pipe.execute()

    return go


def _stock_bulk(server: BenchRedis, n: int) -> Callable[[], None]:
    from rq import Queue

    from bench.jobs import noop

    connection = server.client()
    queue = Queue("default", connection=connection)

    def go() -> None:
        for start in range(0, n, CHUNK):
            with connection.pipeline() as pipe:
                queue.enqueue_many(
                    [Queue.prepare_data(noop, args=(i,)) for i in range(start, min(n, start + CHUNK))],
                    pipeline=pipe,
                )
                pipe.execute()

    return go


def _rqstack_bulk(server: BenchRedis, n: int) -> Callable[[], None]:
    bulk = rqstack_api.enqueue_bulk()
    connection = server.client()

    def go() -> None:
        for start in range(0, n, CHUNK):
            bulk(
                connection,
                [rqstack_api.request("bench.noop", [i]) for i in range(start, min(n, start + CHUNK))],
            )

    return go


def _api_bulk(server: BenchRedis, n: int) -> Callable[[], None]:
    try:
        from rqstack.dashboard.app import create_app
        from rqstack.settings import Settings
    except ImportError as exc:
        raise Unavailable(f"the dashboard API cannot be imported ({exc})") from None
    env = rqstack_api.env(server.url, RQSTACK_DASHBOARD_TOKEN=_TOKEN)
    app = create_app(Settings.from_env(env), server.client())
    client = app.test_client()
    headers = {"Authorization": f"Bearer {_TOKEN}"}
    bodies = [
        [{"job": "bench.noop", "args": [i]} for i in range(start, min(n, start + CHUNK))]
        for start in range(0, n, CHUNK)
    ]

    def go() -> None:
        for body in bodies:
            response = client.post("/api/jobs", json=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(
                    f"POST /api/jobs answered {response.status_code}: {response.get_data(as_text=True)[:300]}"
                )

    return go
