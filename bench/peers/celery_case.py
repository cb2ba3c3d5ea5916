"""Celery 5 peer (its own venv, Redis broker): prefork -c2 throughput, single enqueue, countdown
lateness, and interval-schedule lateness under celery beat and under RedBeat."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime

import peer_common as common
import redis
from celery import Celery

URL = os.environ["BENCH_REDIS_URL"]
app = Celery("celery_case", broker=URL)
app.conf.update(
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    redbeat_redis_url=URL,
    beat_schedule={"every1": {"task": "celery_case.record", "schedule": 1.0, "args": ("every1",)}},
    timezone="UTC",
)
_client = redis.Redis.from_url(URL)


@app.task(name="celery_case.noop")
def noop(i: int) -> None:
    """Count one run of job i."""
    _client.hincrby(common.RUNS_KEY, str(i), 1)


@app.task(name="celery_case.record")
def record(tag: str) -> None:
    """Record when this task started."""
    _client.rpush(common.STARTS_KEY, f"{tag} {time.time():.6f}")


def _celery(*args: str) -> list[str]:
    return [str(common.BIN / "celery"), "-A", "celery_case", *args]


def _worker(concurrency: int = 2) -> list[str]:
    return _celery("worker", "-P", "prefork", "-c", str(concurrency), "--loglevel", "WARNING")


def _wait_ready(connection: redis.Redis) -> None:
    record.delay("probe")
    if not common.wait_until(lambda: connection.llen(common.STARTS_KEY) >= 1, 60, 0.02):
        raise SystemExit("celery worker never ran the probe task")
    connection.delete(common.STARTS_KEY)


def main() -> None:
    """Run one case and print its JSON line."""
    args = common.arguments()
    connection = common.client(args.url)
    if args.case == "enqueue":
        common.run_enqueue_case(args.n, noop.delay, lambda: connection.llen("celery"))
    elif args.case == "worker":
        common.run_worker_case(connection, args.url, args.n, noop.delay, _worker(), {"concurrency": 2})
    elif args.case == "countdown":
        worker = common.spawn(_worker(), args.url)
        try:
            _wait_ready(connection)
            due = common.delayed_due(args.n, args.spacing)
            for tag, instant in due.items():
                record.apply_async((tag,), eta=datetime.fromtimestamp(instant, UTC))
            common.wait_until(
                lambda: connection.llen(common.STARTS_KEY) >= args.n,
                max(due.values()) - time.time() + 5,
                0.05,
            )
            time.sleep(0.2)
        finally:
            common.stop(worker)
        common.emit_delayed(connection, due)
    elif args.case in ("beat", "redbeat"):
        workdir = tempfile.mkdtemp(prefix="bench-beat-")
        beat = _celery("beat", "--loglevel", "WARNING", "-s", os.path.join(workdir, "celerybeat-schedule"))
        if args.case == "redbeat":
            beat += ["-S", "redbeat.RedBeatScheduler"]
        worker = common.spawn(_worker(), args.url)
        try:
            _wait_ready(connection)
            scheduler = common.spawn(beat, args.url)
            try:
                common.wait_until(
                    lambda: connection.llen(common.STARTS_KEY) >= args.fires + 1, 2 * args.fires + 30, 0.05
                )
            finally:
                common.stop(scheduler)
        finally:
            common.stop(worker)
        common.emit_fires(connection, args.fires)
    else:
        raise SystemExit(f"unknown case {args.case}")


if __name__ == "__main__":
    # Run through the module name so tasks register as celery_case.*, the names workers import.
    import celery_case

    celery_case.main()
