"""Find what rqstack offers right now (its parts land while the bench evolves) and call it uniformly.

Every lookup raises ``Unavailable`` with the reason when the part is missing, so the table shows
"not available" for that row instead of a made-up figure.
"""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from bench.core import Unavailable

REPO = Path(__file__).resolve().parent.parent
RQSTACK_BIN = str(Path(sys.executable).parent / "rqstack")


def env(url: str, **extra: str) -> dict[str, str]:
    """Environment for rqstack / rq processes: the bench Redis, the bench jobs, the repo on the path."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "REDIS_URL": url,
        "BENCH_REDIS_URL": url,
        "RQSTACK_JOBS": "bench.jobs",
        "RQSTACK_DATA_DIR": str(REPO / "bench" / "results" / ".rqstack"),
        "PYTHONPATH": path,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def _attr(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise Unavailable(f"rqstack has no {module}.{name} yet ({exc})") from None


class SchedulerPass:
    """rqstack's one-pass scheduler function: ``Scheduler.tick(now)`` repeated while it reports more."""

    def __init__(self, connection: redis.Redis) -> None:
        scheduler_class = _attr("rqstack.sched.loop", "Scheduler")
        self.scheduler = scheduler_class(connection)

    def warm_up(self, now: datetime) -> None:
        """Register the Lua scripts and take the lease (a one-time cost of a running scheduler)."""
        self.scheduler.tick(now)

    def run(self, now: datetime) -> tuple[int, int]:
        """Ticks at ``now`` until nothing more is due; (jobs fired + moved, ticks)."""
        done = ticks = 0
        while True:
            result = self.scheduler.tick(now)
            ticks += 1
            if not result.leader:
                raise RuntimeError("the bench scheduler did not get the lease")
            done += int(result.fired) + int(result.moved)
            if not result.more:
                return done, ticks


def create_schedules(connection: redis.Redis, specs: Sequence[dict[str, Any]]) -> None:
    """Save schedules through rqstack's store (``dict`` fields as in the schedule file)."""
    store_class = _attr("rqstack.sched.store", "ScheduleStore")
    schedule_class = _attr("rqstack.sched.model", "Schedule")
    import bench.jobs  # noqa: F401  (registers bench.noop / bench.record for validation)

    store = store_class(connection)
    for spec in specs:
        store.create(schedule_class(**spec))


def enqueue_one() -> Callable[[redis.Redis, str, Sequence[Any]], Any]:
    """``rqstack.worker.enqueue.enqueue`` bound to an ``EnqueueRequest``: (conn, job, args)."""
    enqueue = _attr("rqstack.worker.enqueue", "enqueue")
    request_class = _attr("rqstack.worker.enqueue", "EnqueueRequest")
    import bench.jobs  # noqa: F401

    def call(connection: redis.Redis, job: str, args: Sequence[Any], **options: Any) -> Any:
        return enqueue(connection, request_class(job=job, args=list(args), **options))

    return call


_BULK_NAMES = ("enqueue_many", "enqueue_bulk", "bulk_enqueue")


def enqueue_bulk() -> Callable[[redis.Redis, list[Any]], Any]:
    """rqstack's bulk Python API: (conn, [EnqueueRequest]) -> results."""
    module = importlib.import_module("rqstack.worker.enqueue")
    for name in _BULK_NAMES:
        found = getattr(module, name, None)
        if callable(found):
            import bench.jobs

            return found  # type: ignore[no-any-return]
    for candidate in ("rqstack.worker.bulk", "rqstack.worker.enqueue_many"):
        try:
            bulk_module = importlib.import_module(candidate)
        except ImportError:
            continue
        for name in _BULK_NAMES:
            found = getattr(bulk_module, name, None)
            if callable(found):
                import bench.jobs  # noqa: F401

                return found  # type: ignore[no-any-return]
    raise Unavailable("rqstack has no bulk enqueue API yet (looked for enqueue_many / enqueue_bulk)")


def request(job: str, args: Sequence[Any], **options: Any) -> Any:
    """An rqstack ``EnqueueRequest``."""
    return _attr("rqstack.worker.enqueue", "EnqueueRequest")(job=job, args=list(args), **options)


@functools.cache
def worker_help() -> str:
    """`rqstack worker --help`, read once to learn which modes this rqstack offers."""
    out = subprocess.run(
        [RQSTACK_BIN, "worker", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"},
    )
    return out.stdout + out.stderr


def isolated_flag() -> list[str]:
    """The worker option that selects the isolated (forked horse) mode."""
    text = worker_help()
    for flag in ("--isolated", "--isolate", "--mode isolated", "--fork"):
        if flag.split()[0] in text:
            return flag.split()
    raise Unavailable("`rqstack worker` has no isolated mode option yet")


def processes_flag(count: int) -> list[str]:
    """Options for ``count`` worker processes when the command has one; else [] (the caller starts N)."""
    text = worker_help()
    for flag in ("--processes", "--concurrency", "--workers"):
        if flag in text:
            return [flag, str(count)]
    return []


def remove_schedule(connection: redis.Redis, name: str) -> None:
    """Delete a schedule through rqstack's store."""
    _attr("rqstack.sched.store", "ScheduleStore")(connection).delete(name)
