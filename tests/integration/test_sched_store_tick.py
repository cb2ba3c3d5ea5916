"""Schedule store CRUD and Scheduler.tick(now) against a real redis-server, with chosen times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq.job import Job

from rqstack import constants
from rqstack.errors import AlreadyExists, BadInput, InvalidCron, NotFound, UnknownJob
from rqstack.sched.control import pause_scheduler, resume_scheduler, run_now, scheduler_status
from rqstack.sched.history import record_run_outcome
from rqstack.sched.loop import Scheduler
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.jobs.registry import load_jobs

T0 = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _jobs() -> None:
    load_jobs()


def store_at(connection: redis.Redis, moment: datetime) -> ScheduleStore:
    return ScheduleStore(connection, clock=lambda: moment)


def queued(connection: redis.Redis, queue: str = "default") -> list[str]:
    return [i.decode() for i in connection.lrange(constants.RQ_QUEUE_KEY_PREFIX + queue, 0, -1)]


def test_create_get_list_delete(connection: redis.Redis) -> None:
    store = store_at(connection, T0)
    saved = store.create(
        Schedule("nightly", "demo.add", cron="0 3 * * *", timezone="Asia/Seoul", kwargs={"a": 1, "b": 2})
    )
    assert saved.created_at == T0
    assert store.get("nightly").kwargs == {"a": 1, "b": 2}
    assert [s.name for s in store.list()] == ["nightly"]
    # 03:00 Seoul is 18:00 UTC the day before.
    assert store.next_due("nightly") == datetime(2030, 1, 1, 18, 0, tzinfo=UTC)
    with pytest.raises(AlreadyExists):
        store.create(Schedule("nightly", "demo.echo", every=60))
    store.delete("nightly")
    with pytest.raises(NotFound):
        store.get("nightly")
    with pytest.raises(NotFound):
        store.delete("nightly")


@pytest.mark.parametrize(
    ("schedule", "error"),
    [
        (Schedule("x", "no.such.job", cron="* * * * *"), UnknownJob),
        (Schedule("x", "demo.add", cron="0 0 31 2 *", kwargs={"a": 1, "b": 2}), InvalidCron),
        (Schedule("x", "demo.add", cron="* * * * *", kwargs={"a": "one", "b": 2}), BadInput),
        (Schedule("x", "demo.echo", cron="* * * * *", timezone="Mars/Olympus"), BadInput),
        (Schedule("bad name", "demo.echo", cron="* * * * *"), BadInput),
        (Schedule("x", "demo.echo"), BadInput),
        (Schedule("x", "demo.echo", every=0.5), BadInput),
        (Schedule("x", "demo.echo", every=60, misfire="sometimes"), BadInput),
    ],
)
def test_bad_schedules_write_nothing(
    connection: redis.Redis, schedule: Schedule, error: type[Exception]
) -> None:
    with pytest.raises(error):
        store_at(connection, T0).create(schedule)
    assert connection.dbsize() == 0


def test_update_enable_disable(connection: redis.Redis) -> None:
    store = store_at(connection, T0)
    store.create(Schedule("every-min", "demo.echo", every=60))
    assert store.next_due("every-min") == T0 + timedelta(minutes=1)
    store.set_enabled("every-min", False)
    assert store.next_due("every-min") is None
    store.set_enabled("every-min", True)
    changed = store.update("every-min", {"cron": "30 * * * *"})
    assert changed.every is None and changed.cron == "30 * * * *"
    assert store.next_due("every-min") == T0 + timedelta(minutes=30)
    with pytest.raises(BadInput):
        store.update("every-min", {"cron": "61 * * * *"})
    assert store.get("every-min").cron == "30 * * * *"


def test_tick_fires_once_with_deterministic_id(connection: redis.Redis) -> None:
    store_at(connection, T0).create(Schedule("ping", "demo.echo", cron="*/5 * * * *", args=(1,)))
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=4, seconds=59)).fired == 0
    due = T0 + timedelta(minutes=5)
    result = scheduler.tick(due)
    assert result.fired == 1
    job_id = f"ping-{int(due.timestamp())}"
    assert queued(connection) == [job_id]
    job = Job.fetch(job_id, connection=connection, serializer=JSONFirstSerializer)
    assert job.args == [1] and job.get_status() == "queued"
    assert scheduler.tick(due).fired == 0
    assert result.next_due == (T0 + timedelta(minutes=10)).timestamp()
    runs = ScheduleStore(connection).history("ping")
    assert runs[0]["job_id"] == job_id and runs[0]["status"] == "queued"


def test_two_schedulers_same_instant_fire_once(connection: redis.Redis) -> None:
    store_at(connection, T0).create(Schedule("dup", "demo.echo", every=60))
    a, b = Scheduler(connection, use_lease=False), Scheduler(connection, use_lease=False)
    due = T0 + timedelta(minutes=1)
    assert a.tick(due).fired + b.tick(due).fired == 1
    leader, follower = Scheduler(connection), Scheduler(connection)
    later = due + timedelta(minutes=1)
    results = [leader.tick(later), follower.tick(later)]
    assert [r.leader for r in results] == [True, False]
    assert sum(r.fired for r in results) == 1
    assert len(queued(connection)) == 2


@pytest.mark.parametrize(("policy", "expected"), [("skip", 0), ("once", 1), ("all", 10)])
def test_misfire_policies_after_outage(connection: redis.Redis, policy: str, expected: int) -> None:
    store_at(connection, T0).create(Schedule("m", "demo.echo", every=60, misfire=policy, misfire_grace=30))
    result = Scheduler(connection).tick(T0 + timedelta(minutes=10, seconds=45))
    assert result.fired == expected
    assert len(queued(connection)) == expected


def test_overlap_skip_while_previous_run_is_queued(connection: redis.Redis) -> None:
    store_at(connection, T0).create(Schedule("slow", "demo.echo", every=60, overlap="skip"))
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=1)).fired == 1
    second = scheduler.tick(T0 + timedelta(minutes=2))
    assert (second.fired, second.skipped) == (0, 1)
    first_id = queued(connection)[0]
    connection.hset(constants.RQ_JOB_KEY_PREFIX + first_id, "status", "finished")
    assert scheduler.tick(T0 + timedelta(minutes=3)).fired == 1


def test_change_is_seen_on_next_tick(connection: redis.Redis) -> None:
    store = store_at(connection, T0)
    store.create(Schedule("live", "demo.echo", cron="0 * * * *"))
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=1)).fired == 0
    store_at(connection, T0 + timedelta(minutes=1)).update("live", {"every": 60})
    assert scheduler.tick(T0 + timedelta(minutes=2)).fired == 1
    store.set_enabled("live", False)
    assert scheduler.tick(T0 + timedelta(minutes=3)).fired == 0


def test_pause_resume_status_and_run_now(connection: redis.Redis) -> None:
    store = store_at(connection, T0)
    store.create(Schedule("p", "demo.echo", every=60))
    scheduler = Scheduler(connection)
    pause_scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=1)).paused
    assert queued(connection) == []
    assert scheduler_status(connection)["paused"] is True
    resume_scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=1)).fired == 1
    status = scheduler_status(connection, now=T0 + timedelta(minutes=1))
    assert status["leader"] == scheduler.owner and status["fired_total"] == 1
    assert connection.hget(constants.SCHEDULER_STATE_KEY, "ticks_total") == b"2"
    result = run_now(store, "p", now=T0 + timedelta(seconds=90))
    assert result.job_id == f"p-run-{int((T0 + timedelta(seconds=90)).timestamp() * 1000)}"
    assert record_run_outcome(connection, "p", result.job_id, "finished", T0, T0 + timedelta(seconds=2))
    runs = store.history("p")
    assert runs[0]["status"] == "finished" and runs[0]["duration"] == 2.0


def test_changed_arguments_are_used_by_the_next_fire(connection: redis.Redis) -> None:
    store = store_at(connection, T0)
    store.create(Schedule("args", "demo.echo", every=60, args=(1,)))
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=1)).fired == 1
    store.update("args", {"args": [2]})
    assert scheduler.tick(T0 + timedelta(minutes=2)).fired == 1
    jobs = [Job.fetch(i, connection=connection, serializer=JSONFirstSerializer) for i in queued(connection)]
    assert [j.args for j in jobs] == [[1], [2]]
    assert all(j.meta["rqstack_schedule"] == "args" for j in jobs)


def test_templates_are_rewritten_after_a_flush(connection: redis.Redis) -> None:
    store_at(connection, T0).create(Schedule("f", "demo.echo", every=60))
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=1)).fired == 1
    connection.flushall()
    store_at(connection, T0 + timedelta(minutes=1)).create(Schedule("f", "demo.echo", every=60))
    assert scheduler.tick(T0 + timedelta(minutes=2)).fired == 1
    job = Job.fetch(queued(connection)[0], connection=connection, serializer=JSONFirstSerializer)
    assert job.func_name == "rqstack.worker.jobs.demo.echo"


def test_unrunnable_schedule_is_recorded_and_moved_on(connection: redis.Redis) -> None:
    store_at(connection, T0).create(Schedule("u", "demo.echo", every=60))
    definition = connection.hget("rqstack:schedule:u", "definition")
    assert definition is not None
    connection.hset("rqstack:schedule:u", "definition", definition.replace(b"demo.echo", b"gone.job"))
    result = Scheduler(connection).tick(T0 + timedelta(minutes=1))
    assert result.fired == 0
    assert ScheduleStore(connection).next_due("u") == T0 + timedelta(minutes=2)
    assert ScheduleStore(connection).history("u")[0]["status"] == "error"


def _commands_per_idle_tick(connection: redis.Redis, scheduler: Scheduler, moment: datetime) -> int:
    scheduler.tick(moment)
    connection.config_resetstat()
    scheduler.tick(moment)
    stats = connection.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_config", "cmdstat_info"))


def test_idle_tick_work_does_not_grow_with_the_number_of_schedules(connection: redis.Redis) -> None:
    store = store_at(connection, T0)
    store.create(Schedule("s0", "demo.echo", cron="0 0 1 1 *"))
    few = _commands_per_idle_tick(connection, Scheduler(connection), T0 + timedelta(hours=1))
    connection.flushall()
    for n in range(500):
        store.create(Schedule(f"s{n}", "demo.echo", cron="0 0 1 1 *"))
    many = _commands_per_idle_tick(connection, Scheduler(connection), T0 + timedelta(hours=1))
    assert 0 < few == many


def test_running_scheduler_picks_up_a_new_schedule_without_restart(connection: redis.Redis) -> None:
    import threading
    import time

    scheduler = Scheduler(connection)
    thread = threading.Thread(target=scheduler.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.2)
        ScheduleStore(connection).create(Schedule("live-add", "demo.echo", every=1))
        deadline = time.monotonic() + 3
        while not queued(connection) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        scheduler.request_stop()
        thread.join(5)
    assert queued(connection) and queued(connection)[0].startswith("live-add-")


def test_a_lost_job_template_is_rewritten_not_a_lost_fire(connection: redis.Redis) -> None:
    store_at(connection, T0).create(Schedule("t", "demo.echo", every=60))
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0 + timedelta(minutes=1)).fired == 1
    connection.delete(constants.SCHEDULE_JOB_TEMPLATE_KEY_PREFIX + "t")
    first = scheduler.tick(T0 + timedelta(minutes=2))
    assert (first.fired, first.more) == (0, True)
    assert scheduler.tick(T0 + timedelta(minutes=2)).fired == 1
    job = Job.fetch(queued(connection)[-1], connection=connection, serializer=JSONFirstSerializer)
    assert job.func_name == "rqstack.worker.jobs.demo.echo"


def test_a_stored_schedule_that_cannot_become_a_job_does_not_stop_the_others(connection: redis.Redis) -> None:
    store = store_at(connection, T0)
    store.create(Schedule("good", "demo.echo", every=60))
    store.create(Schedule("broken", "demo.echo", every=60))
    key = constants.SCHEDULE_KEY_PREFIX + "broken"
    definition = connection.hget(key, "definition")
    assert definition is not None
    # Data written by an older version (or by hand) that today's checks would refuse.
    connection.hset(key, "definition", definition.replace(b'"timeout":null', b'"timeout":Infinity'))
    connection.incr(constants.SCHEDULE_VERSION_KEY)
    result = Scheduler(connection).tick(T0 + timedelta(minutes=1))
    assert result.fired == 1
    assert queued(connection) == [f"good-{int((T0 + timedelta(minutes=1)).timestamp())}"]
    assert store.history("broken")[0]["status"] == "error"


def test_a_tick_after_redis_forgot_its_scripts_runs_each_step_once(connection: redis.Redis) -> None:
    store = store_at(connection, T0)
    store.create(Schedule("flushed", "demo.echo", every=60))
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0).fired == 0
    connection.script_flush()  # what a Redis restart without persistence of scripts does
    result = scheduler.tick(T0 + timedelta(minutes=1))
    assert result.leader and result.fired == 1
    assert queued(connection) == [f"flushed-{int((T0 + timedelta(minutes=1)).timestamp())}"]
    # The tick's own record ran once, not once more when the scripts were loaded again.
    assert connection.hget(constants.SCHEDULER_STATE_KEY, "ticks_total") == b"2"
    assert connection.hget(constants.SCHEDULER_STATE_KEY, "fired_total") == b"1"
