"""One scheduler pass, timed in-process (no process start-up): due-job move, cron pass, idle tick."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis

from bench import rqstack_api
from bench.config import Config
from bench.core import Row, Sample, Unavailable, row
from bench.server import BenchRedis

SCHEDULER_SET = "rq:scheduler:scheduled_jobs"
REGISTRY = "rq:scheduled:default"
QUEUE = "rq:queue:default"


def run(config: Config) -> list[Row]:
    """Every scheduler-pass case of this run."""
    out: list[Row] = []
    for n in config.move_sizes:
        case = f"due-job move, {n:,} jobs"
        out.append(
            row(
                case,
                "stock rq-scheduler enqueue_jobs()",
                "stock",
                "jobs/s",
                "higher",
                lambda s, n=n: _move(s, n, "rq-scheduler", _stock_rq_scheduler),
            )
        )
        out.append(
            row(
                case,
                "rqstack tick() [rq-scheduler set]",
                "rqstack",
                "jobs/s",
                "higher",
                lambda s, n=n: _move(s, n, "rq-scheduler", _rqstack_pass),
            )
        )
        out.append(
            row(
                case,
                "stock rq RQScheduler pass [rq registry]",
                "stock",
                "jobs/s",
                "higher",
                lambda s, n=n: _move(s, n, "registry", _stock_rq_registry),
                note="RQ's own scheduler (rq worker --with-scheduler), for reference",
                baseline="stock rq RQScheduler pass [rq registry]",
            )
        )
        out.append(
            row(
                case,
                "rqstack tick() [rq registry]",
                "rqstack",
                "jobs/s",
                "higher",
                lambda s, n=n: _move(s, n, "registry", _rqstack_pass),
                note="jobs queued by rqstack enqueue --in/--at",
                baseline="stock rq RQScheduler pass [rq registry]",
            )
        )
    case = f"cron pass, {config.cron_size:,} schedules due"
    out.append(
        row(
            case,
            "stock rq-scheduler cron entries",
            "stock",
            "schedules/s",
            "higher",
            lambda s: _stock_cron_pass(s, config.cron_size),
        )
    )
    out.append(
        row(
            case,
            "rqstack tick(), steady (2nd fire)",
            "rqstack",
            "schedules/s",
            "higher",
            lambda s: _rqstack_cron_pass(s, config.cron_size, steady=True),
            note="the scheduler has fired every schedule once and keeps their plans",
        )
    )
    out.append(
        row(
            case,
            "rqstack tick(), 1st fire after creation",
            "rqstack",
            "schedules/s",
            "higher",
            lambda s: _rqstack_cron_pass(s, config.cron_size, steady=False),
            note="job templates written when the schedules were saved, as stock's cron() writes job hashes",
        )
    )
    for size in config.idle_sizes:
        out.append(
            row(
                f"idle tick, {size:,} schedules",
                "rqstack tick()",
                "rqstack",
                "ms",
                "lower",
                lambda s, size=size: _rqstack_idle(s, size, config.idle_ticks),
                note="median of one repeat's ticks; nothing due",
            )
        )
    return out


# --- due-job move ------------------------------------------------------------------------------

Mover = Callable[[redis.Redis], int]


def _move(server: BenchRedis, n: int, layout: str, make_mover: Callable[[redis.Redis], Mover]) -> Sample:
    connection = server.client()
    mover = make_mover(connection)  # objects and scripts ready before the clock starts
    ids = _fill_due(connection, n, layout, rqstack_format=make_mover is _rqstack_pass)
    started = time.perf_counter()
    mover(connection)
    elapsed = time.perf_counter() - started
    queued = [i.decode() for i in connection.lrange(QUEUE, 0, -1)]
    left = connection.zcard(SCHEDULER_SET if layout == "rq-scheduler" else REGISTRY)
    ok = len(queued) == n and set(queued) == set(ids) and left == 0
    return Sample(
        n / elapsed,
        ok,
        f"{len(queued)}/{n} queued, {len(set(queued))} distinct, {left} left due",
        {"seconds": elapsed},
    )


def _fill_due(connection: redis.Redis, n: int, layout: str, *, rqstack_format: bool) -> list[str]:
    """n due jobs copied from one job the real producer API wrote (the copies only differ by id)."""
    past = datetime.now(UTC) - timedelta(seconds=30)
    if layout == "rq-scheduler":
        from rq_scheduler import Scheduler

        from bench.jobs import noop

        template = Scheduler(connection=connection).enqueue_at(past.replace(tzinfo=None), noop, 0)
        key = SCHEDULER_SET
    elif rqstack_format:
        result = rqstack_api.enqueue_one()(connection, "bench.noop", [0], delay=3600.0)
        template_id = result.job_id
        key = REGISTRY
    else:
        from rq import Queue

        from bench.jobs import noop

        template = Queue("default", connection=connection).enqueue_in(timedelta(hours=1), noop, 0)
        key = REGISTRY
    if layout == "rq-scheduler" or not rqstack_format:
        template_id = template.id
    fields = connection.hgetall(f"rq:job:{template_id}")
    connection.delete(f"rq:job:{template_id}")
    connection.zrem(key, template_id)
    ids = [f"bench-{i}-{uuid.uuid4().hex[:8]}" for i in range(n)]
    score = past.timestamp()
    with connection.pipeline(transaction=False) as pipe:
        for index, job_id in enumerate(ids):
            pipe.hset(f"rq:job:{job_id}", mapping=fields)
            pipe.zadd(key, {job_id: score})
            if index % 2000 == 1999:
                pipe.execute()
        pipe.execute()
    return ids


def _stock_rq_scheduler(connection: redis.Redis) -> Mover:
    from rq_scheduler import Scheduler

    scheduler = Scheduler(connection=connection)

    def move(_c: redis.Redis) -> int:
        scheduler.enqueue_jobs()
        return 0

    return move


def _stock_rq_registry(connection: redis.Redis) -> Mover:
    from rq.scheduler import RQScheduler

    scheduler = RQScheduler(["default"], connection=connection)
    scheduler.acquire_locks()

    def move(c: redis.Redis) -> int:
        # RQ moves at most 1,000 per registry per pass; repeat as its loop would, without the 1 s sleeps.
        while c.zcount(REGISTRY, "-inf", time.time()):
            scheduler.enqueue_scheduled_jobs()
        return 0

    return move


def _rqstack_pass(connection: redis.Redis) -> Mover:
    scheduler_pass = rqstack_api.SchedulerPass(connection)
    scheduler_pass.warm_up(datetime.now(UTC) - timedelta(hours=2))
    return lambda _c: scheduler_pass.run(datetime.now(UTC))[0]


# --- cron pass -----------------------------------------------------------------------------------


def _stock_cron_pass(server: BenchRedis, n: int) -> Sample:
    from rq_scheduler import Scheduler

    from bench.jobs import noop

    connection = server.client()
    scheduler = Scheduler(connection=connection)
    template = scheduler.cron("* * * * *", func=noop, args=[0])
    fields = connection.hgetall(f"rq:job:{template.id}")
    connection.delete(f"rq:job:{template.id}")
    connection.zrem(SCHEDULER_SET, template.id)
    ids = [f"cron-{i}" for i in range(n)]
    due = time.time() - 1
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hset(f"rq:job:{job_id}", mapping=fields)
            pipe.zadd(SCHEDULER_SET, {job_id: due})
        pipe.execute()
    started = time.perf_counter()
    scheduler.enqueue_jobs()
    elapsed = time.perf_counter() - started
    queued = connection.lrange(QUEUE, 0, -1)
    # Rescheduled = moved past the instant they were due at. Not "after now": on a slow machine the
    # pass can outlast the minute, and the first entries' next run is then already behind the clock.
    future = connection.zcount(SCHEDULER_SET, f"({due}", "+inf")
    ok = len(queued) == n == len(set(queued)) and future == n
    return Sample(
        n / elapsed, ok, f"{len(queued)}/{n} queued, {future}/{n} rescheduled", {"seconds": elapsed}
    )


def _rqstack_cron_pass(server: BenchRedis, n: int, *, steady: bool) -> Sample:
    """First fire after creation (builds each schedule's job template), or the next one (steady state)."""
    connection = server.client()
    scheduler_pass = rqstack_api.SchedulerPass(connection)
    scheduler_pass.warm_up(datetime.now(UTC) - timedelta(hours=2))
    specs = [{"name": f"cron-{i}", "job": "bench.noop", "cron": "* * * * *", "args": (i,)} for i in range(n)]
    rqstack_api.create_schedules(connection, specs)
    due = connection.zrange("rqstack:schedules:due", 0, -1, withscores=True)
    if len(due) != n:
        raise RuntimeError(f"{len(due)} of {n} schedules have a due time")
    now = datetime.fromtimestamp(max(score for _, score in due), UTC) + timedelta(milliseconds=1)
    passes = 1
    if steady:
        first, _ = scheduler_pass.run(now)
        now += timedelta(minutes=1)
        passes = 2
        if first != n:
            raise RuntimeError(f"the first pass fired {first} of {n}")
    started = time.perf_counter()
    fired, _ticks = scheduler_pass.run(now)
    elapsed = time.perf_counter() - started
    queued = connection.lrange(QUEUE, 0, -1)
    still_due = connection.zcount("rqstack:schedules:due", "-inf", now.timestamp())
    ok = len(queued) == passes * n == len(set(queued)) and fired == n and still_due == 0
    return Sample(
        n / elapsed,
        ok,
        f"{len(queued)}/{passes * n} queued over {passes} pass(es), {fired} fired in the timed one, "
        f"{still_due} still due",
        {"seconds": elapsed},
    )


# --- idle tick -----------------------------------------------------------------------------------


def _rqstack_idle(server: BenchRedis, size: int, ticks: int) -> Sample:
    connection = server.client()
    scheduler_pass = rqstack_api.SchedulerPass(connection)
    specs = [
        {"name": f"idle-{i}", "job": "bench.noop", "cron": "0 0 1 1 *", "args": (i,)} for i in range(size)
    ]
    rqstack_api.create_schedules(connection, specs)
    now = datetime.now(UTC)
    scheduler_pass.warm_up(now)
    timings = []
    for _ in range(ticks):
        started = time.perf_counter()
        done, _ = scheduler_pass.run(datetime.now(UTC))
        timings.append((time.perf_counter() - started) * 1000)
        if done:
            raise Unavailable("schedules fired during the idle-tick case; the clock is near New Year")
    queued = connection.llen(QUEUE)
    ok = queued == 0 and connection.zcard("rqstack:schedules:due") == size
    return Sample(
        statistics.median(timings),
        ok,
        f"{size:,} schedules, {queued} fired",
        {"max_ms": max(timings), "ticks": ticks},
    )
