"""One scheduler serves RQ's ScheduledJobRegistry and stock rq-scheduler's sorted set, never early."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.utils import utcparse
from rq_scheduler import Scheduler as RQScheduler

from rqstack import constants
from rqstack.sched.control import pause_scheduler, resume_scheduler
from rqstack.sched.loop import Scheduler
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.registry import load_jobs

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _jobs() -> None:
    load_jobs()


def queue_ids(connection: redis.Redis, name: str = "default") -> list[str]:
    return [i.decode() for i in connection.lrange(constants.RQ_QUEUE_KEY_PREFIX + name, 0, -1)]


def test_registry_job_moves_at_its_exact_instant(connection: redis.Redis) -> None:
    due = T0 + timedelta(seconds=10, milliseconds=250)
    result = enqueue(connection, EnqueueRequest("demo.echo", args=[1], at=due), now=T0)
    scheduler = Scheduler(connection)
    early = scheduler.tick(due - timedelta(microseconds=1))
    assert early.moved == 0 and early.next_due == due.timestamp()
    assert scheduler.tick(due).moved == 1
    assert queue_ids(connection) == [result.job_id]
    job = Job.fetch(result.job_id, connection=connection)
    assert job.get_status() == "queued"
    assert job.enqueued_at is not None and job.enqueued_at >= due
    assert connection.zcard(constants.RQ_SCHEDULED_REGISTRY_PREFIX + "default") == 0


def test_a_leading_scheduler_moves_nothing_while_paused(connection: redis.Redis) -> None:
    due = T0 + timedelta(seconds=10)
    scheduler = Scheduler(connection)
    assert scheduler.tick(T0).leader  # it leads: its next tick sends the moves with the lease renewal
    own = enqueue(connection, EnqueueRequest("demo.echo", args=[1], at=due), now=T0)
    stock = RQScheduler(connection=connection).enqueue_at(due.replace(tzinfo=None), "builtins.print", "x")
    pause_scheduler(connection)
    paused = scheduler.tick(due + timedelta(seconds=1))
    assert paused.paused and paused.moved == 0
    assert queue_ids(connection) == []
    resume_scheduler(connection)
    assert scheduler.tick(due + timedelta(seconds=2)).moved == 2
    assert sorted(queue_ids(connection)) == sorted([own.job_id, stock.id])


def test_a_new_leader_moves_due_jobs_on_its_first_tick(connection: redis.Redis) -> None:
    due = T0 + timedelta(seconds=10)
    own = enqueue(connection, EnqueueRequest("demo.echo", args=[1], at=due), now=T0)
    assert Scheduler(connection).tick(due).moved == 1
    assert queue_ids(connection) == [own.job_id]


def test_stock_rq_enqueue_at_and_missing_jobs(connection: redis.Redis) -> None:
    queue = Queue("other", connection=connection)
    job = queue.enqueue_at(T0, "builtins.print", "hi")
    connection.zadd(constants.RQ_SCHEDULED_REGISTRY_PREFIX + "other", {"ghost": T0.timestamp()})
    assert Scheduler(connection).tick(T0 + timedelta(seconds=1)).moved == 1
    assert queue_ids(connection, "other") == [job.id]
    assert connection.zcard(constants.RQ_SCHEDULED_REGISTRY_PREFIX + "other") == 0


def test_stock_rq_scheduler_one_shots_repeats_and_cron(connection: redis.Redis) -> None:
    stock = RQScheduler(connection=connection)
    now = datetime.now(UTC)
    past = (now - timedelta(seconds=5)).replace(tzinfo=None)
    at_job = stock.enqueue_at(past, "builtins.print", "at")
    in_job = stock.enqueue_in(timedelta(seconds=-1), "builtins.print", "in")
    future = stock.enqueue_in(timedelta(hours=1), "builtins.print", "later")
    repeating = stock.schedule(past, "builtins.print", args=["repeat"], interval=60, repeat=2)
    cron_job = stock.cron("* * * * *", "builtins.print", args=["cron"])
    connection.zadd(constants.RQ_SCHEDULER_JOBS_KEY, {cron_job.id: now.timestamp() - 1})
    result = Scheduler(connection).tick(now)
    assert result.moved == 4
    assert sorted(queue_ids(connection)) == sorted([at_job.id, in_job.id, repeating.id, cron_job.id])
    assert Job.fetch(at_job.id, connection=connection).get_status() == "queued"
    remaining = {i.decode() for i in connection.zrange(constants.RQ_SCHEDULER_JOBS_KEY, 0, -1)}
    # One-shots leave the set; repeating and cron jobs are put back for their next run, as rq-scheduler does.
    assert remaining == {future.id, repeating.id, cron_job.id}
    assert connection.zscore(constants.RQ_SCHEDULER_JOBS_KEY, cron_job.id) > now.timestamp()


def test_follower_does_not_move_jobs(connection: redis.Redis) -> None:
    enqueue(connection, EnqueueRequest("demo.echo", at=T0 + timedelta(seconds=1)), now=T0)
    leader, follower = Scheduler(connection), Scheduler(connection)
    assert leader.tick(T0).leader
    assert follower.tick(T0 + timedelta(seconds=2)).leader is False
    assert queue_ids(connection) == []
    assert leader.tick(T0 + timedelta(seconds=2)).moved == 1


def test_batches_of_many_due_jobs(connection: redis.Redis) -> None:
    queue = Queue("bulk", connection=connection)
    with connection.pipeline() as pipe:
        for n in range(2500):
            job = queue.create_job("builtins.print", args=(n,), job_id=f"bulk-{n}")
            queue.schedule_job(job, T0, pipeline=pipe)
        pipe.execute()
    scheduler = Scheduler(connection, batch_size=1000)
    first = scheduler.tick(T0 + timedelta(seconds=1))
    assert (first.moved, first.more) == (1000, True)
    while scheduler.tick(T0 + timedelta(seconds=1)).more:
        pass
    assert connection.llen(constants.RQ_QUEUE_KEY_PREFIX + "bulk") == 2500


def test_run_loop_wakes_for_new_work_and_is_never_early(connection: redis.Redis) -> None:
    scheduler = Scheduler(connection, max_sleep=1.0)
    thread = threading.Thread(target=scheduler.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.2)  # the loop is asleep with nothing due
        dues = []
        for n in range(20):
            due = datetime.now(UTC) + timedelta(milliseconds=30 + 7 * n)
            dues.append((enqueue(connection, EnqueueRequest("demo.echo", args=[n], at=due)).job_id, due))
        deadline = time.monotonic() + 5
        while connection.llen(constants.RQ_QUEUE_KEY_PREFIX + "default") < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        scheduler.request_stop()
        thread.join(5)
    assert not thread.is_alive()
    assert connection.get(constants.SCHEDULER_LEADER_KEY) is None  # released on stop
    lateness = []
    for job_id, due in dues:
        enqueued = utcparse(connection.hget(constants.RQ_JOB_KEY_PREFIX + job_id, "enqueued_at").decode())
        assert enqueued >= due, f"{job_id} moved {(due - enqueued).total_seconds() * 1000:.3f} ms early"
        lateness.append((enqueued - due).total_seconds())
    print(f"move lateness max {max(lateness) * 1000:.2f} ms")


def test_stock_rq_worker_runs_what_the_scheduler_queued(connection: redis.Redis) -> None:
    from rq import SimpleWorker
    from rq_scheduler import Scheduler as RQScheduler

    from rqstack.sched.model import Schedule
    from rqstack.sched.store import ScheduleStore
    from rqstack.serializer import JSONFirstSerializer

    ScheduleStore(connection, clock=lambda: T0).create(
        Schedule("sum", "demo.add", every=60, kwargs={"a": 1, "b": 2}, retry=2, retry_interval=(1.0,))
    )
    delayed = enqueue(
        connection, EnqueueRequest("demo.add", args=[2, 3], at=T0 + timedelta(seconds=5)), now=T0
    )
    stock = RQScheduler(connection=connection).enqueue_at(T0.replace(tzinfo=None), "builtins.len", "abc")
    assert Scheduler(connection).tick(T0 + timedelta(minutes=1)).fired == 1
    queue = Queue("default", connection=connection, serializer=JSONFirstSerializer)
    assert SimpleWorker([queue], connection=connection, serializer=JSONFirstSerializer).work(burst=True)
    fired = Job.fetch(
        f"sum-{int((T0 + timedelta(minutes=1)).timestamp())}",
        connection=connection,
        serializer=JSONFirstSerializer,
    )
    assert (fired.get_status(), fired.return_value(), fired.retries_left) == ("finished", 3, 2)
    moved = Job.fetch(delayed.job_id, connection=connection, serializer=JSONFirstSerializer)
    assert (moved.get_status(), moved.return_value()) == ("finished", 5)
    assert Job.fetch(stock.id, connection=connection, serializer=JSONFirstSerializer).return_value() == 3


def test_run_loop_finds_work_added_without_a_wake_up(connection: redis.Redis) -> None:
    scheduler = Scheduler(connection, max_sleep=1.0)
    thread = threading.Thread(target=scheduler.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.15)
        queue = Queue("quiet", connection=connection)
        job = queue.create_job("builtins.print", args=("quiet",))
        due = time.time() + 0.3
        # Written the way stock producers do it: no publish on the wake channel.
        with connection.pipeline() as pipe:
            queue.schedule_job(job, datetime.fromtimestamp(due, UTC), pipeline=pipe)
            pipe.zadd(constants.RQ_SCHEDULED_REGISTRY_PREFIX + "quiet", {job.id: due})
            pipe.execute()
        deadline = time.monotonic() + 3
        while not connection.llen(constants.RQ_QUEUE_KEY_PREFIX + "quiet") and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        scheduler.request_stop()
        thread.join(5)
    enqueued = utcparse(connection.hget(constants.RQ_JOB_KEY_PREFIX + job.id, "enqueued_at").decode())
    assert enqueued.timestamp() >= due
    print(f"unannounced job moved {(enqueued.timestamp() - due) * 1000:.2f} ms after its time")
