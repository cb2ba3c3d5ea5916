"""enqueue writes the job hash RQ writes (without rq.job.Job), and RQ's own code reads and runs it."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.utils import utcparse

from rqstack import constants
from rqstack.errors import BadInput
from rqstack.redis_values import as_text
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker import enqueue as enqueue_module
from rqstack.worker.enqueue import (
    EnqueueRequest,
    build_job,
    enqueue,
    enqueue_many,
    make_queue,
    prepare,
)
from rqstack.worker.jobs.registry import load_jobs

_TIMES = {b"created_at", b"enqueued_at"}

REQUESTS = [
    EnqueueRequest("demo.add", args=[1, 2.5]),
    EnqueueRequest("demo.echo", args=["x", [1, {"a": None}]], kwargs={"flag": True}, queue="other"),
    EnqueueRequest(
        "demo.echo",
        args=["é ☃"],
        retry=3,
        retry_intervals="exp:10s:10m",
        timeout=2.5,
        job_id="fixed-id",
        meta={"owner": "ops", "n": 1},
    ),
    EnqueueRequest("demo.echo", retry=2, retry_intervals=[1.5, 3]),
    EnqueueRequest("demo.echo", retry=1),
    # JSON would turn the int key into a string: the serializer pickles, so must the fast path.
    EnqueueRequest("demo.echo", args=[{1: "one"}]),
    # Meta JSON cannot hold: pickled like RQ's serializer does.
    EnqueueRequest("demo.echo", meta={"when": datetime(2030, 1, 1, tzinfo=UTC)}),
    EnqueueRequest("demo.add", args=[1, 2], delay=3600),
]


@pytest.fixture(autouse=True)
def _jobs() -> None:
    load_jobs()


@pytest.fixture
def db(connection: redis.Redis) -> Iterator[redis.Redis]:
    yield connection


def _reference_hash(connection: redis.Redis, request: EnqueueRequest, job_id: str) -> dict[bytes, bytes]:
    """The hash RQ's own Job.to_dict gives for the same prepared job (the pre-optimisation write)."""
    prepared = prepare(request)
    queue = make_queue(prepared.queue, connection)
    job = build_job(queue, prepared)
    if prepared.due is None:
        queue._prepare_for_queue(job)
    else:
        job._status = JobStatus.SCHEDULED
    encoder = connection.get_encoder()  # what redis-py's HSET sends for each value
    return {
        key.encode(): encoder.encode(value)
        for key, value in job.to_dict().items()
        if value is not None and value != ""
    }


@pytest.mark.parametrize("request_", REQUESTS, ids=range(len(REQUESTS)))
def test_hash_matches_what_rq_job_writes(db: redis.Redis, request_: EnqueueRequest) -> None:
    result = enqueue(db, request_)
    written = db.hgetall(constants.RQ_JOB_KEY_PREFIX + result.job_id)
    expected = _reference_hash(db, request_, result.job_id)
    # RQ compresses every job's data; small data is stored as it is, which RQ reads the same way.
    assert _rq_data(written.pop(b"data")) == zlib.decompress(expected.pop(b"data"))
    assert {k: v for k, v in written.items() if k not in _TIMES} == {
        k: v for k, v in expected.items() if k not in _TIMES
    }
    assert written.keys() & _TIMES == expected.keys() & _TIMES
    for key in written.keys() & _TIMES:
        parsed = utcparse(as_text(written[key]))
        assert abs(parsed.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)


def _rq_data(raw: bytes) -> bytes:
    """What rq.job.Job.restore makes of a stored data field."""
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return raw


def test_small_data_is_stored_plain_and_large_data_compressed(db: redis.Redis) -> None:
    small = enqueue(db, EnqueueRequest("demo.echo", args=["x"]))
    large = enqueue(db, EnqueueRequest("demo.echo", args=["y" * 2000]))
    small_data = db.hget(constants.RQ_JOB_KEY_PREFIX + small.job_id, "data")
    large_data = db.hget(constants.RQ_JOB_KEY_PREFIX + large.job_id, "data")
    assert small_data is not None and large_data is not None
    assert small_data.startswith(b'["rqstack.worker.jobs.demo.echo"')
    assert len(large_data) < 200  # 2,000 repeated characters compress to almost nothing
    for result, text in ((small, "x"), (large, "y" * 2000)):
        job = Job.fetch(result.job_id, connection=db, serializer=JSONFirstSerializer)
        assert job.args == [text]


def test_job_fetch_reads_every_field(db: redis.Redis) -> None:
    result = enqueue(db, REQUESTS[2])
    job = Job.fetch(result.job_id, connection=db, serializer=JSONFirstSerializer)
    assert job.func_name == "rqstack.worker.jobs.demo.echo"
    assert job.args == ["é ☃"]
    assert job.kwargs == {}
    assert job.origin == "default"
    assert job.get_status() == JobStatus.QUEUED
    assert job.timeout == 3  # whole seconds, rounded up
    assert job.retries_left == 3
    assert job.retry_intervals == [10, 20, 40]
    assert job.result_ttl == constants.DEFAULT_RESULT_TTL_SECONDS
    assert job.failure_ttl == constants.DEFAULT_FAILURE_TTL_SECONDS
    assert job.meta["owner"] == "ops"
    assert job.meta["rqstack_job"] == "demo.echo"
    assert job.description == "demo.echo('é ☃')"
    assert job.enqueued_at is not None and job.created_at is not None


def test_stock_rq_queue_sees_and_simple_worker_runs_the_jobs(db: redis.Redis) -> None:
    ids = [r.job_id for r in enqueue_many(db, [EnqueueRequest("demo.add", args=[i, 1]) for i in range(3)])]
    queue = Queue("default", connection=db, serializer=JSONFirstSerializer)
    assert queue.count == 3
    assert queue.job_ids == ids
    assert db.smembers(constants.RQ_QUEUES_KEY) == {b"rq:queue:default"}
    worker = SimpleWorker([queue], connection=db, serializer=JSONFirstSerializer)
    assert worker.work(burst=True)
    for i, job_id in enumerate(ids):
        job = Job.fetch(job_id, connection=db, serializer=JSONFirstSerializer)
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == i + 1


def test_delayed_job_gets_its_exact_score_and_wakes_the_scheduler(db: redis.Redis) -> None:
    pubsub = db.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(constants.SCHEDULER_WAKE_CHANNEL)
    at = datetime.now(UTC) + timedelta(hours=1, microseconds=123_456)
    result = enqueue(db, EnqueueRequest("demo.echo", at=at))
    assert result.status == "scheduled"
    registry = ScheduledJobRegistry("default", connection=db, serializer=JSONFirstSerializer)
    assert registry.get_job_ids() == [result.job_id]
    assert db.zscore(registry.key, result.job_id) == at.timestamp()
    assert db.llen("rq:queue:default") == 0
    assert db.smembers(constants.RQ_QUEUES_KEY) == {b"rq:queue:default"}
    message = None
    for _ in range(20):  # the first reads may only consume the subscribe confirmation
        message = message or pubsub.get_message(timeout=0.1)
    assert message is not None and message["data"] == repr(at.timestamp()).encode()
    job = Job.fetch(result.job_id, connection=db, serializer=JSONFirstSerializer)
    assert job.get_status() == JobStatus.SCHEDULED
    pubsub.close()


def test_bulk_spans_chunks_and_queues_in_order(db: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enqueue_module, "WRITE_CHUNK", 3)
    requests = [EnqueueRequest("demo.add", args=[i, 0], queue=("a", "b")[i % 2]) for i in range(7)]
    requests.insert(4, EnqueueRequest("demo.echo", delay=600, queue="a"))
    requests.insert(2, EnqueueRequest("demo.echo", unique_key="only-one"))
    results = enqueue_many(db, requests)
    assert [r.status for r in results].count("queued") == 8
    a_ids = [r.job_id for r in results if r.queue == "a" and r.status == "queued"]
    b_ids = [r.job_id for r in results if r.queue == "b" and r.status == "queued"]
    assert Queue("a", connection=db).job_ids == a_ids
    assert Queue("b", connection=db).job_ids == b_ids
    assert db.zcard("rq:scheduled:a") == 1
    assert db.llen("rq:queue:default") == 1  # the unique job
    for result in results:
        assert db.exists(constants.RQ_JOB_KEY_PREFIX + result.job_id)


def test_bad_request_in_a_batch_writes_nothing(db: redis.Redis) -> None:
    requests: list[Any] = [EnqueueRequest("demo.add", args=[1, 2]), EnqueueRequest("demo.add", args=["x", 2])]
    with pytest.raises(BadInput):
        enqueue_many(db, requests)
    assert db.dbsize() == 0


def test_script_is_loaded_again_after_redis_forgets_it(db: redis.Redis) -> None:
    enqueue(db, EnqueueRequest("demo.echo"))
    db.script_flush()
    enqueue(db, EnqueueRequest("demo.echo"))
    assert db.llen("rq:queue:default") == 2
