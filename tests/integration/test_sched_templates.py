"""Job templates are written with the schedule; the scheduler copies them, and rebuilds only stale ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq.job import Job

from rqstack import constants
from rqstack.sched import template
from rqstack.sched.firer import Firer
from rqstack.sched.loop import Scheduler
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.jobs.registry import get_job, load_jobs

T0 = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
TEMPLATE = constants.SCHEDULE_JOB_TEMPLATE_KEY_PREFIX + "t"
SCHEDULE = constants.SCHEDULE_KEY_PREFIX + "t"


@pytest.fixture(autouse=True)
def _jobs() -> None:
    load_jobs()


def save(connection: redis.Redis, **fields: object) -> ScheduleStore:
    store = ScheduleStore(connection, clock=lambda: T0)
    store.create(Schedule("t", "demo.echo", every=60, args=("one",), **fields))  # type: ignore[arg-type]
    return store


def fired_jobs(connection: redis.Redis) -> list[Job]:
    ids = [i.decode() for i in connection.lrange(constants.RQ_QUEUE_KEY_PREFIX + "default", 0, -1)]
    return [Job.fetch(i, connection=connection, serializer=JSONFirstSerializer) for i in ids]


def test_saving_writes_the_template_plan_and_stamp_and_a_fresh_scheduler_only_copies_them(
    connection: redis.Redis,
) -> None:
    save(connection, timeout=90)
    stored = connection.hgetall(SCHEDULE)
    assert json.loads(stored[b"plan"])["queue"] == "default"
    assert stored[b"template_stamp"].decode() == template.stamp(stored[b"definition"], get_job("demo.echo"))
    assert connection.hget(TEMPLATE, "timeout") == b"90"
    # A field only this test writes: a rebuilt template would not have it.
    connection.hset(TEMPLATE, "marker", "from-save")
    assert Scheduler(connection).tick(T0 + timedelta(minutes=1)).fired == 1
    assert connection.hget(TEMPLATE, "marker") == b"from-save"
    (job,) = fired_jobs(connection)
    assert (job.func_name, job.args, job.timeout) == ("rqstack.worker.jobs.demo.echo", ["one"], 90)


def test_a_schedule_stored_without_a_template_gets_one_on_its_first_fire(connection: redis.Redis) -> None:
    save(connection)
    # What an older version of rqstack left: the definition only.
    connection.hdel(SCHEDULE, "plan", "template_stamp")
    connection.delete(TEMPLATE)
    connection.incr(constants.SCHEDULE_VERSION_KEY)
    assert Scheduler(connection).tick(T0 + timedelta(minutes=1)).fired == 1
    assert fired_jobs(connection)[0].args == ["one"]
    assert connection.hexists(SCHEDULE, "plan") and connection.hexists(SCHEDULE, "template_stamp")
    assert connection.hget(TEMPLATE, "origin") == b"default"


def test_a_template_stamped_by_another_registry_is_rebuilt_before_it_fires(connection: redis.Redis) -> None:
    save(connection)
    # As after a deploy that changed demo.echo's registration: the stamp no longer matches.
    connection.hset(SCHEDULE, "template_stamp", "0" * 24)
    connection.hset(TEMPLATE, mapping={"marker": "stale", "timeout": "1"})
    assert Scheduler(connection).tick(T0 + timedelta(minutes=1)).fired == 1
    assert not connection.hexists(TEMPLATE, "marker")
    (job,) = fired_jobs(connection)
    assert job.timeout == constants.DEFAULT_JOB_TIMEOUT_SECONDS
    stored = connection.hgetall(SCHEDULE)
    assert stored[b"template_stamp"].decode() == template.stamp(stored[b"definition"], get_job("demo.echo"))


def test_a_rebuild_never_overwrites_the_template_of_a_newer_save(connection: redis.Redis) -> None:
    store = save(connection)
    old = connection.hget(SCHEDULE, "definition")
    assert old is not None
    schedule = Schedule.from_dict(json.loads(old))
    built = template.build(schedule, schedule.validate(), old)
    store.update("t", {"args": ["two"]})
    changed = Firer(connection)._write_templates([("t", old, built)])
    assert changed == {"t"}
    data = connection.hget(TEMPLATE, "data")
    assert data is not None and b'"two"' in data
    assert Scheduler(connection).tick(T0 + timedelta(minutes=1)).fired == 1
    assert fired_jobs(connection)[0].args == ["two"]
