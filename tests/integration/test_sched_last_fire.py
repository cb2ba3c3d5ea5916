"""Each schedule's last fire: kept in one shared hash, read back with what older versions wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from rqstack import constants
from rqstack.sched.loop import Scheduler
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.worker.jobs.registry import load_jobs

T0 = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
LAST = constants.SCHEDULE_LAST_FIRE_KEY


@pytest.fixture(autouse=True)
def _jobs() -> None:
    load_jobs()


def test_listing_shows_the_last_fire_and_removing_forgets_it(connection: redis.Redis) -> None:
    store = ScheduleStore(connection, clock=lambda: T0)
    store.create(Schedule("a", "demo.echo", every=60))
    store.create(Schedule("b", "demo.echo", every=3600))
    assert Scheduler(connection).tick(T0 + timedelta(minutes=1)).fired == 1
    listed = {s.schedule.name: (s.last_job_id, s.last_fire) for s in store.list_stored()}
    fire = T0 + timedelta(minutes=1)
    assert listed == {"a": (f"a-{int(fire.timestamp())}", fire.isoformat()), "b": (None, None)}
    store.delete("a")
    assert connection.hkeys(LAST) == []


def test_last_fires_written_by_an_older_version_still_count(connection: redis.Redis) -> None:
    store = ScheduleStore(connection, clock=lambda: T0)
    store.create(Schedule("old", "demo.echo", every=60, overlap="skip"))
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=1)).fired == 1
    # Move the record to where older versions kept it: the schedule's own hash.
    _, job_id, fire = connection.hget(LAST, "old").decode().split(" ")  # type: ignore[union-attr]
    connection.hdel(LAST, "old")
    connection.hset(constants.SCHEDULE_KEY_PREFIX + "old", mapping={"last_job_id": job_id, "last_fire": fire})
    (stored,) = store.list_stored()
    assert (stored.last_job_id, stored.last_fire) == (job_id, fire)
    # The job it names is still queued, so overlap=skip skips the next fire.
    second = scheduler.tick(T0 + timedelta(minutes=2))
    assert (second.fired, second.skipped) == (0, 1)


def test_a_fire_at_or_before_the_last_one_is_never_made_again(connection: redis.Redis) -> None:
    store = ScheduleStore(connection, clock=lambda: T0)
    store.create(Schedule("once", "demo.echo", every=60))
    scheduler = Scheduler(connection)
    fire = T0 + timedelta(minutes=1)
    assert scheduler.tick(fire).fired == 1
    job_id = f"once-{int(fire.timestamp())}"
    # Its job is gone (result TTL over, or deleted) and the index is put back on the same instant,
    # as a save from a process whose clock runs behind could do: the fire is not made twice.
    connection.delete(constants.RQ_JOB_KEY_PREFIX + job_id)
    connection.zadd(constants.SCHEDULE_DUE_KEY, {"once": fire.timestamp()})
    assert scheduler.tick(fire).fired == 0
    assert connection.lrange(constants.RQ_QUEUE_KEY_PREFIX + "default", 0, -1) == [job_id.encode()]
    assert scheduler.tick(fire + timedelta(minutes=1)).fired == 1
