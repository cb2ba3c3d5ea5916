"""Many schedules due at one instant: shared plans, batched queue pushes and bounded run history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq.job import Job

from rqstack import constants
from rqstack.redis_values import as_text
from rqstack.sched.loop import Scheduler
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import build_job, make_queue
from rqstack.worker.jobs.registry import load_jobs

T0 = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
DUE = T0 + timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _jobs() -> None:
    load_jobs()


def queued(connection: redis.Redis, queue: str) -> list[str]:
    return [as_text(i) for i in connection.lrange(constants.RQ_QUEUE_KEY_PREFIX + queue, 0, -1)]


def test_same_cron_different_settings_each_fire_once_with_their_own_job(connection: redis.Redis) -> None:
    store = ScheduleStore(connection, clock=lambda: T0)
    for i in range(12):
        store.create(
            Schedule(
                f"s{i}",
                "demo.echo",
                cron="* * * * *",
                args=(i,),
                queue="high" if i % 3 == 0 else "default",
                overlap="skip" if i % 2 else "allow",
            )
        )
    scheduler = Scheduler(connection, batch_size=5)
    fired = 0
    while True:
        result = scheduler.tick(DUE)
        fired += result.fired
        if not result.more:
            break
    assert fired == 12
    stamp = int(DUE.timestamp())
    assert sorted(queued(connection, "high")) == sorted(f"s{i}-{stamp}" for i in range(0, 12, 3))
    assert len(queued(connection, "default")) == 8
    assert connection.smembers(constants.RQ_QUEUES_KEY) == {
        (constants.RQ_QUEUE_KEY_PREFIX + q).encode() for q in ("high", "default")
    }
    for i in range(12):
        job = Job.fetch(f"s{i}-{stamp}", connection=connection, serializer=JSONFirstSerializer)
        assert job.args == [i] and job.get_status() == "queued"
        assert job.origin == ("high" if i % 3 == 0 else "default")
        assert job.enqueued_at is not None and job.created_at == job.enqueued_at
        assert store.next_due(f"s{i}") == DUE + timedelta(minutes=1)
        (stored,) = store.list_stored([f"s{i}"])
        assert (stored.last_job_id, stored.last_fire) == (f"s{i}-{stamp}", DUE.isoformat())
    # The same instant again (another scheduler, a retry): nothing fires twice.
    assert Scheduler(connection, use_lease=False).tick(DUE).fired == 0


def test_run_history_stays_bounded(connection: redis.Redis) -> None:
    ScheduleStore(connection, clock=lambda: T0).create(Schedule("h", "demo.echo", every=60))
    runs = constants.SCHEDULE_RUNS_KEY_PREFIX + "h"
    old = [json.dumps({"status": "queued", "job_id": f"old-{i}"}) for i in range(constants.RUN_HISTORY_LIMIT)]
    connection.rpush(runs, *old)
    scheduler = Scheduler(connection)
    assert scheduler.tick(DUE).fired == 1
    assert connection.llen(runs) == constants.RUN_HISTORY_LIMIT
    newest = json.loads(connection.lindex(runs, 0) or b"{}")
    assert newest == {
        "status": "queued",
        "fire_time": DUE.isoformat(),
        "enqueued_at": DUE.isoformat(),
        "job_id": f"h-{int(DUE.timestamp())}",
    }
    assert (
        json.loads(connection.lindex(runs, -1) or b"{}")["job_id"] == f"old-{constants.RUN_HISTORY_LIMIT - 2}"
    )


def test_fired_jobs_read_back_as_rq_would_have_written_them(connection: redis.Redis) -> None:
    store = ScheduleStore(connection, clock=lambda: T0)
    schedules = [
        Schedule("a", "demo.echo", cron="* * * * *", args=(1,)),
        Schedule("b", "demo.echo", cron="* * * * *", args=(2,), queue="high", timeout=30.5),
        Schedule("c", "demo.add", cron="* * * * *", kwargs={"a": 1, "b": 2}, retry=2),
        Schedule("d", "demo.echo", cron="* * * * *", args=("x" * 1000,)),  # data large enough to compress
    ]
    for schedule in schedules:
        store.create(schedule)
    assert Scheduler(connection).tick(DUE).fired == len(schedules)
    for schedule in schedules:
        prepared = schedule.validate()
        # RQ's own Job, built the way a stock producer would build the same call.
        built = build_job(make_queue(prepared.queue, connection), prepared)
        built.save()
        reference = Job.fetch(built.id, connection=connection, serializer=JSONFirstSerializer)
        fired = Job.fetch(
            f"{schedule.name}-{int(DUE.timestamp())}", connection=connection, serializer=JSONFirstSerializer
        )
        for attribute in (
            "func_name",
            "args",
            "kwargs",
            "timeout",
            "result_ttl",
            "failure_ttl",
            "meta",
            "description",
            "origin",
            "retries_left",
            "retry_intervals",
        ):
            assert getattr(fired, attribute) == getattr(reference, attribute), (schedule.name, attribute)
        assert fired.get_status() == "queued"
        assert fired.enqueued_at is not None and fired.created_at is not None
