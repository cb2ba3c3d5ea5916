"""The fast worker against a real redis-server: RQ's data model, retries, timeouts, unique jobs, hooks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from rq import Queue, Retry, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import CanceledJobRegistry, FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker import callbacks
from rqstack.worker.enqueue import EnqueueRequest, enqueue, make_queue
from rqstack.worker.inspect import cancel_job, job_details
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.options import WorkerOptions
from rqstack.worker.runner import build_fast_worker

_attempts: dict[str, int] = {}


def flaky(key: str, failures: int) -> str:
    """Fail ``failures`` times, then succeed."""
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] <= failures:
        raise RuntimeError(f"attempt {_attempts[key]} of {key} fails")
    return f"ok after {_attempts[key]}"


def reports_progress() -> int:
    """Report progress twice and return."""
    from rqstack.worker.progress import report_progress

    report_progress(1, 4, "one quarter")
    report_progress(4, 4, "all done")
    return 4


def returns_none() -> None:
    """A job with nothing to return."""


def pickled_result() -> set[int]:
    """A return value JSON cannot hold."""
    return {1, 2}


@pytest.fixture(autouse=True)
def _jobs() -> Iterator[None]:
    load_jobs()
    _attempts.clear()
    yield


def work(connection: redis.Redis, *queues: str, **options: Any) -> None:
    build_fast_worker(connection, queues or ("default",), options=WorkerOptions(**options)).work(burst=True)


def fetch(connection: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=connection, serializer=JSONFirstSerializer)


def test_jobs_run_and_leave_what_rq_tools_read(connection: redis.Redis) -> None:
    ids = [enqueue(connection, EnqueueRequest("demo.add", args=[i, 1])).job_id for i in range(50)]
    work(connection)
    queue = make_queue("default", connection)
    assert FinishedJobRegistry(queue=queue).count == 50
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    job = fetch(connection, ids[7])
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 8
    assert job.started_at is not None and job.ended_at is not None and job.worker_name
    assert 0 < connection.ttl(job.key) <= 7 * 24 * 3600
    assert 0 < connection.ttl(f"rq:results:{job.id}") <= 7 * 24 * 3600
    worker_key = f"rq:worker:{job.worker_name}"
    assert connection.hget(worker_key, "successful_job_count") == b"50"
    assert not connection.sismember("rq:workers", worker_key)  # unregistered at exit
    assert connection.keys("rq:execution:*") == []


def test_a_none_result_costs_no_result_record(connection: redis.Redis) -> None:
    job = make_queue("default", connection).enqueue(returns_none)
    work(connection)
    assert job.get_status() == JobStatus.FINISHED
    assert fetch(connection, job.id).return_value() is None
    assert not connection.exists(f"rq:results:{job.id}")


def test_rqstack_jobs_store_no_empty_fields(connection: redis.Redis) -> None:
    result = enqueue(connection, EnqueueRequest("demo.add", args=[1, 2]))
    fields = connection.hgetall(f"rq:job:{result.job_id}")
    assert b"" not in fields.values()
    work(connection)
    assert fetch(connection, result.job_id).return_value() == 3


def test_stock_rq_jobs_with_pickle_run_too(connection: redis.Redis) -> None:
    job = Queue("default", connection=connection).enqueue(pickled_result)
    work(connection)
    assert job.get_status() == JobStatus.FINISHED
    assert Job.fetch(job.id, connection=connection).return_value() == {1, 2}


def test_stock_simple_worker_runs_rqstack_jobs(connection: redis.Redis) -> None:
    result = enqueue(connection, EnqueueRequest("demo.add", args=[2, 3]))
    queue = make_queue("default", connection)
    SimpleWorker([queue], connection=connection, serializer=JSONFirstSerializer).work(burst=True)
    assert fetch(connection, result.job_id).return_value() == 5


def test_failed_job_is_retried_then_finishes(connection: redis.Redis) -> None:
    job = make_queue("default", connection).enqueue(flaky, "a", 2, retry=Retry(max=2))
    work(connection)
    assert job.get_status() == JobStatus.FINISHED
    assert fetch(connection, job.id).return_value() == "ok after 3"


def test_retries_exhausted_fail_with_the_traceback(connection: redis.Redis) -> None:
    result = enqueue(connection, EnqueueRequest("demo.fail", kwargs={"message": "boom"}, retry=1))
    work(connection)
    details = job_details(connection, result.job_id)
    assert details["status"] == "failed"
    assert "RuntimeError: boom" in details["error"]
    assert result.job_id in FailedJobRegistry(queue=make_queue("default", connection))
    assert connection.ttl(f"rq:job:{result.job_id}") > 0


def test_retry_waits_in_the_scheduled_registry_at_its_exact_time(connection: redis.Redis) -> None:
    result = enqueue(
        connection, EnqueueRequest("demo.fail", retry=2, retry_intervals="1.25s,1m", job_id="later")
    )
    before = time.time()
    work(connection)
    score = connection.zscore("rq:scheduled:default", "later")
    assert score is not None and before + 1.25 <= score <= time.time() + 1.25
    assert not float(score).is_integer()
    job = fetch(connection, result.job_id)
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == 1


def test_timeout_fails_the_job_with_a_clear_message(connection: redis.Redis) -> None:
    result = enqueue(connection, EnqueueRequest("demo.sleep", kwargs={"seconds": 5}, timeout=0.3))
    started = time.monotonic()
    work(connection)
    assert time.monotonic() - started < 3
    details = job_details(connection, result.job_id)
    assert details["status"] == "failed"
    assert "ran longer than its timeout" in details["error"]


def test_missing_function_fails_at_once_without_retries(connection: redis.Redis) -> None:
    queue = make_queue("default", connection)
    job = queue.enqueue("rqstack.worker.jobs.demo.removed_long_ago", retry=Retry(max=3))
    work(connection)
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert "does not exist in this worker's code" in (job.latest_result().exc_string or "")  # type: ignore[union-attr]
    assert job.retries_left == 3


def test_unique_jobs_share_one_id_until_the_job_ends(connection: redis.Redis) -> None:
    request = EnqueueRequest("demo.echo", args=["user-42"], unique_key="crawl:user-42")
    first = enqueue(connection, request)
    second = enqueue(connection, request)
    assert second.existing and second.job_id == first.job_id
    assert connection.llen("rq:queue:default") == 1
    work(connection)
    assert connection.get("rqstack:unique:crawl:user-42") is None
    third = enqueue(connection, request)
    assert not third.existing and third.job_id != first.job_id


def test_a_stale_unique_lock_does_not_block_the_key(connection: redis.Redis) -> None:
    connection.set("rqstack:unique:k", "vanished-job")
    result = enqueue(connection, EnqueueRequest("demo.echo", unique_key="k"))
    assert not result.existing


def test_cancel_removes_a_queued_job_and_frees_its_unique_key(connection: redis.Redis) -> None:
    result = enqueue(connection, EnqueueRequest("demo.echo", unique=True))
    assert cancel_job(connection, result.job_id) == "canceled"
    assert result.job_id in CanceledJobRegistry(queue=make_queue("default", connection))
    assert connection.llen("rq:queue:default") == 0
    assert not enqueue(connection, EnqueueRequest("demo.echo", unique=True)).existing


def test_progress_is_shown_by_job_details(connection: redis.Redis) -> None:
    job = make_queue("default", connection).enqueue(reports_progress)
    work(connection)
    progress = job_details(connection, job.id)["progress"]
    assert progress["percent"] == 100.0 and progress["message"] == "all done"


def test_dependents_are_enqueued_when_their_parent_finishes(connection: redis.Redis) -> None:
    queue = make_queue("default", connection)
    parent = queue.enqueue("rqstack.worker.jobs.demo.add", 1, 1)
    child = queue.enqueue("rqstack.worker.jobs.demo.add", 2, 2, depends_on=parent)
    work(connection)
    assert child.get_status() == JobStatus.FINISHED


def test_hooks_see_success_retry_and_final_failure(connection: redis.Redis) -> None:
    events: list[tuple[str, str]] = []

    def listener(_: redis.Redis, event: str, info: dict[str, Any]) -> None:
        events.append((event, info["id"]))

    callbacks.add_listener(listener)
    try:
        ok = enqueue(connection, EnqueueRequest("demo.add", args=[1, 2], job_id="ok"))
        bad = enqueue(connection, EnqueueRequest("demo.fail", retry=1, job_id="bad"))
        work(connection)
    finally:
        callbacks.remove_listener(listener)
    assert ("succeeded", ok.job_id) in events
    assert [e for e in events if e[1] == bad.job_id] == [("retrying", "bad"), ("failed", "bad")]


def test_isolated_mode_runs_jobs_in_a_recycled_horse(connection: redis.Redis) -> None:
    ids = [enqueue(connection, EnqueueRequest("demo.add", args=[i, i])).job_id for i in range(7)]
    slow = enqueue(connection, EnqueueRequest("demo.sleep", kwargs={"seconds": 5}, timeout=0.3)).job_id
    work(connection, isolated=True, horse_max_jobs=3)
    assert [fetch(connection, i).return_value() for i in ids] == [2 * i for i in range(7)]
    details = job_details(connection, slow)
    assert details["status"] == "failed" and "timeout" in details["error"]


def test_queues_are_served_in_priority_order(connection: redis.Redis) -> None:
    low = enqueue(connection, EnqueueRequest("demo.add", args=[1, 1], queue="low")).job_id
    high = enqueue(connection, EnqueueRequest("demo.add", args=[1, 1], queue="high")).job_id
    work(connection, "high", "low")
    assert fetch(connection, high).ended_at <= fetch(connection, low).started_at  # type: ignore[operator]
    assert datetime.now(UTC) >= fetch(connection, low).ended_at  # type: ignore[operator]


def test_a_schedules_run_history_gets_the_outcome(connection: redis.Redis) -> None:
    from rqstack.sched.control import run_now
    from rqstack.sched.model import Schedule
    from rqstack.sched.store import ScheduleStore, runs_key

    store = ScheduleStore(connection)
    store.create(Schedule.from_dict({"name": "nightly", "job": "demo.add", "every": "1h", "args": [1, 2]}))
    result = run_now(store, "nightly")
    work(connection)
    record = json.loads(connection.lindex(runs_key("nightly"), 0) or b"{}")
    assert record["job_id"] == result.job_id
    assert record["status"] == "finished"
    assert record["duration"] >= 0


def test_alerts_get_final_failures_only(connection: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str]] = []

    def dispatch(_: redis.Redis, __: Settings, event: str, info: dict[str, Any]) -> None:
        sent.append((event, info["id"]))
        raise RuntimeError("the alert channel is down")  # must not change the job's outcome

    monkeypatch.setattr(callbacks, "_dispatch", dispatch)
    monkeypatch.setattr(callbacks, "_dispatch_loaded", True)
    result = enqueue(connection, EnqueueRequest("demo.fail", retry=1, job_id="alerted"))
    build_fast_worker(connection, ["default"], options=WorkerOptions(), settings=Settings()).work(burst=True)
    assert sent == [("failed", "alerted")]
    assert job_details(connection, result.job_id)["status"] == "failed"
