"""Start lateness of delayed jobs and fire lateness of cron/interval schedules, measured by the job itself.

A ``bench.record`` job writes ``time.time()`` at its start to a Redis list; lateness is that minus the
instant it was due (for rq-scheduler's whole-second scores the due instant is the score). The figure
is the p95 of the absolute deviation, so an early start counts against it as much as a late one.
"""

from __future__ import annotations

import functools
import math
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from bench import procs, rqstack_api
from bench.config import Config
from bench.core import Kind, Row, Sample, percentile, row
from bench.jobs import STARTS_KEY
from bench.server import BenchRedis

Submit = Callable[[redis.Redis, str, dict[str, float]], None]


@dataclass(frozen=True)
class Setup:
    """Processes that serve the jobs, and how jobs are submitted."""

    name: str
    kind: Kind
    commands: Callable[[str], list[list[str]]]
    submit: Submit
    whole_seconds: bool = False
    note: str = ""


@functools.cache
def rqstack_scheduler_argv() -> tuple[str, ...]:
    """`rqstack scheduler`, or the library loop when this rqstack has no such command yet."""
    probe = subprocess.run(
        procs.rqstack("scheduler", "--help"),
        capture_output=True,
        check=False,
        env=rqstack_api.env("redis://127.0.0.1:1/0"),
    )
    if probe.returncode == 0:
        return tuple(procs.rqstack("scheduler"))
    return (sys.executable, "-m", "bench.sched_proc")


def _rqstack_procs(url: str) -> list[list[str]]:
    return [list(rqstack_scheduler_argv()), procs.rqstack("worker")]


def _stock_rqscheduler_procs(url: str) -> list[list[str]]:
    return [procs.rqscheduler("--url", url, "-i", "1"), procs.rq("worker", "--url", url)]


def _stock_rq_with_scheduler(url: str) -> list[list[str]]:
    return [procs.rq("worker", "--url", url, "--with-scheduler")]


def _submit_rqstack_api(connection: redis.Redis, url: str, due: dict[str, float]) -> None:
    enqueue = rqstack_api.enqueue_one()
    for tag, instant in due.items():
        enqueue(connection, "bench.record", [tag], at=datetime.fromtimestamp(instant, UTC))


def _submit_rqstack_cli(connection: redis.Redis, url: str, due: dict[str, float]) -> None:
    launched = [
        procs.spawn(
            procs.rqstack(
                "enqueue", "bench.record", tag, "--at", datetime.fromtimestamp(instant, UTC).isoformat()
            ),
            url,
        )
        for tag, instant in due.items()
    ]
    for process in launched:
        if process.wait(timeout=30) != 0:
            raise RuntimeError(f"rqstack enqueue exited with {process.returncode}")


def _submit_rq_scheduler(connection: redis.Redis, url: str, due: dict[str, float]) -> None:
    from rq_scheduler import Scheduler

    from bench.jobs import record

    scheduler = Scheduler(connection=connection)
    for tag, instant in due.items():
        scheduler.enqueue_at(datetime.fromtimestamp(instant, UTC).replace(tzinfo=None), record, tag)


def _submit_rq_enqueue_in(connection: redis.Redis, url: str, due: dict[str, float]) -> None:
    from rq import Queue

    from bench.jobs import record

    queue = Queue("default", connection=connection)
    for tag, instant in due.items():
        queue.enqueue_in(timedelta(seconds=instant - time.time()), record, tag)


DELAYED = [
    Setup("rqstack enqueue(at=) API", "rqstack", _rqstack_procs, _submit_rqstack_api),
    Setup("rqstack enqueue --at (CLI)", "rqstack", _rqstack_procs, _submit_rqstack_cli),
    Setup(
        "rq-scheduler enqueue_at, rqstack scheduler",
        "rqstack",
        _rqstack_procs,
        _submit_rq_scheduler,
        whole_seconds=True,
    ),
    Setup(
        "stock rqscheduler -i 1 + rq worker",
        "stock",
        _stock_rqscheduler_procs,
        _submit_rq_scheduler,
        whole_seconds=True,
    ),
    Setup(
        "stock rq worker --with-scheduler, enqueue_in",
        "stock",
        _stock_rq_with_scheduler,
        _submit_rq_enqueue_in,
        note="lateness vs the requested instant (RQ stores whole seconds)",
    ),
]


def run(config: Config) -> list[Row]:
    """Every lateness case of this run (quick: the API and the stock rq-scheduler pair only)."""
    out = []
    delayed = DELAYED if not config.quick else [DELAYED[0], DELAYED[3]]
    for setup in delayed:
        samples = config.cli_samples if "CLI" in setup.name else config.delayed_samples
        out.append(
            row(
                "delayed job start lateness",
                setup.name,
                setup.kind,
                "ms p95 |dev|",
                "lower",
                lambda s, setup=setup, n=samples: _delayed(s, setup, n, config.delayed_spacing),
                note=setup.note,
                versus="Celery",
            )
        )
    fires = FIRES if not config.quick else [FIRES[0]]
    for name, kind, fn in fires:
        out.append(
            row(
                "cron/interval fire lateness",
                name,
                kind,
                "ms p95 |dev|",
                "lower",
                lambda s, fn=fn: fn(s, config.fires),
                versus="Celery beat",
            )
        )
    return out


# --- delayed jobs -------------------------------------------------------------------------------


def _delayed(server: BenchRedis, setup: Setup, n: int, spacing: float) -> Sample:
    connection = server.client()
    with procs.running(setup.commands(server.url), server.url):
        _wait_ready(connection, server.url, setup)
        lead = 5.0 if "CLI" in setup.name else 1.0
        start = time.time() + lead
        due: dict[str, float] = {}
        for i in range(n):
            instant = start + i * spacing + random.uniform(0, spacing)
            due[f"d{i}"] = float(math.ceil(instant)) if setup.whole_seconds else instant
        setup.submit(connection, server.url, due)
        procs.wait_until(
            lambda: connection.llen(STARTS_KEY) >= n, max(due.values()) - time.time() + 5.0, 0.05
        )
        time.sleep(0.2)  # a duplicate run would show up here
    starts = _starts(connection)
    return _lateness_sample(starts, due)


def _wait_ready(connection: redis.Redis, url: str, setup: Setup) -> None:
    """A probe job through the same path proves scheduler and worker are up before the clock matters."""
    instant = time.time() + 0.3
    setup.submit(connection, url, {"probe": float(math.ceil(instant)) if setup.whole_seconds else instant})
    if not procs.wait_until(lambda: connection.llen(STARTS_KEY) >= 1, 20.0, 0.02):
        raise RuntimeError(f"{setup.name}: the probe job never ran; scheduler or worker did not start")
    connection.delete(STARTS_KEY)


def _starts(connection: redis.Redis) -> list[tuple[str, float, str]]:
    out = []
    for raw in connection.lrange(STARTS_KEY, 0, -1):
        tag, started, *rest = raw.decode().split(" ")
        out.append((tag, float(started), rest[0] if rest else ""))
    return out


def _lateness_sample(starts: Sequence[tuple[str, float, str]], due: dict[str, float]) -> Sample:
    seen: dict[str, int] = {}
    late_ms = []
    for tag, started, _ in starts:
        seen[tag] = seen.get(tag, 0) + 1
        if tag in due:
            late_ms.append((started - due[tag]) * 1000)
    once = sum(1 for tag in due if seen.get(tag) == 1)
    extra_runs = sum(c - 1 for c in seen.values() if c > 1)
    ok = once == len(due) and extra_runs == 0 and set(seen) <= set(due)
    counted = f"{once}/{len(due)} ran once, {extra_runs} duplicates"
    if not late_ms:
        return Sample(math.inf, False, counted)
    return Sample(percentile([abs(v) for v in late_ms], 95), ok, counted, _distribution(late_ms))


def _distribution(late_ms: list[float]) -> dict[str, float | int | list[float]]:
    return {
        "p50_ms": percentile(late_ms, 50),
        "p95_ms": percentile(late_ms, 95),
        "max_ms": max(late_ms),
        "min_ms": min(late_ms),
        "early": sum(1 for v in late_ms if v < 0),
        "n": len(late_ms),
        "lateness_ms": [round(v, 3) for v in late_ms],
    }


# --- cron / interval schedules -------------------------------------------------------------------


def _rqstack_schedule(server: BenchRedis, fires: int, spec: dict[str, object]) -> Sample:
    connection = server.client()
    setup = DELAYED[0]
    with procs.running(_rqstack_procs(server.url), server.url):
        _wait_ready(connection, server.url, setup)
        rqstack_api.create_schedules(connection, [spec])
        procs.wait_until(lambda: connection.llen(STARTS_KEY) >= fires, fires + 10.0, 0.05)
        rqstack_api.remove_schedule(connection, str(spec["name"]))
        time.sleep(0.3)
    starts = _starts(connection)[:fires]
    fire_times = [_fire_from_id(job_id) for _, _, job_id in starts]
    if any(f is None for f in fire_times):
        # No fire time in the id: compare with whole seconds anchored at the first fire.
        anchor = math.floor(starts[0][1])
        fire_times = [anchor + k for k in range(len(starts))]
    return _fire_sample(starts, [f for f in fire_times if f is not None], fires, by_id=True)


def _fire_from_id(job_id: str) -> float | None:
    _, _, suffix = job_id.rpartition("-")
    try:
        return float(suffix)
    except ValueError:
        return None


def _fire_sample(
    starts: Sequence[tuple[str, float, str]], fire_times: list[float], fires: int, *, by_id: bool
) -> Sample:
    late_ms = [(started - fire) * 1000 for (_, started, _), fire in zip(starts, fire_times, strict=False)]
    ids = [job_id for _, _, job_id in starts]
    distinct_fires = len(set(fire_times))
    ok = (
        len(starts) >= fires
        and distinct_fires == len(fire_times)
        and (not by_id or len(set(ids)) == len(ids))
    )
    counted = f"{len(starts)}/{fires} fires, {distinct_fires} distinct fire times"
    if not late_ms:
        return Sample(math.inf, False, counted)
    extra = _distribution(late_ms)
    # Drift: least-squares slope of lateness over the fire number (ms per fire).
    k = list(range(len(late_ms)))
    mean_k, mean_l = sum(k) / len(k), sum(late_ms) / len(late_ms)
    var = sum((x - mean_k) ** 2 for x in k) or 1.0
    extra["drift_ms_per_fire"] = (
        sum((x - mean_k) * (y - mean_l) for x, y in zip(k, late_ms, strict=True)) / var
    )
    return Sample(percentile([abs(v) for v in late_ms], 95), ok, counted, extra)


def _rqstack_every(server: BenchRedis, fires: int) -> Sample:
    spec = {"name": "every1", "job": "bench.record", "every": 1.0, "args": ("every1",)}
    return _rqstack_schedule(server, fires, spec)


def _rqstack_cron_seconds(server: BenchRedis, fires: int) -> Sample:
    spec = {"name": "cron1", "job": "bench.record", "cron": "* * * * * *", "args": ("cron1",)}
    return _rqstack_schedule(server, fires, spec)


def _stock_interval(server: BenchRedis, fires: int) -> Sample:
    from rq_scheduler import Scheduler

    from bench.jobs import record

    connection = server.client()
    with procs.running(_stock_rqscheduler_procs(server.url), server.url):
        _wait_ready(connection, server.url, DELAYED[3])
        anchor = float(math.ceil(time.time()) + 1)
        Scheduler(connection=connection).schedule(
            datetime.fromtimestamp(anchor, UTC).replace(tzinfo=None),
            record,
            args=["interval"],
            interval=1,
            repeat=fires,
        )
        procs.wait_until(lambda: connection.llen(STARTS_KEY) >= fires, 2.5 * fires + 10.0, 0.05)
        time.sleep(0.3)
    starts = _starts(connection)[:fires]
    # rq-scheduler's promise: a fire every `interval` seconds from the first; lateness vs that series.
    return _fire_sample(starts, [anchor + k for k in range(len(starts))], fires, by_id=False)


FIRES: list[tuple[str, Kind, Callable[[BenchRedis, int], Sample]]] = [
    ("rqstack schedule every 1s", "rqstack", _rqstack_every),
    ("rqstack cron '* * * * * *'", "rqstack", _rqstack_cron_seconds),
    ("stock rq-scheduler interval=1 (rqscheduler -i 1)", "stock", _stock_interval),
]
