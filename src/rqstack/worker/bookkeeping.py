"""The Redis writes of a job's life in RQ's data model, done in as few round trips as possible.

The hot path (claim a batch, finish the previous batch's successes) is one Lua call in
``rqstack.worker.claims``; rarer outcomes (failure, retry, cancel, requeue) are one transaction each.
Everything RQ's readers use is written: the job hash, ``rq:wip:<q>`` with ``<job>:<execution>``
members, execution records, result streams, finished/failed/canceled registries and worker stats,
so rq-dashboard and ``rq info`` see it all.
"""

from __future__ import annotations

import zlib
from base64 import b64encode
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from redis.client import Pipeline
from rq.job import Job

from rqstack.constants import (
    CANCEL_KEY_PREFIX,
    RQ_CANCELED_REGISTRY_PREFIX,
    RQ_EXECUTION_KEY_PREFIX,
    RQ_EXECUTIONS_KEY_PREFIX,
    RQ_FAILED_REGISTRY_PREFIX,
    RQ_QUEUE_KEY_PREFIX,
    RQ_RESULTS_KEY_PREFIX,
    RQ_SCHEDULED_REGISTRY_PREFIX,
    RQ_STARTED_REGISTRY_PREFIX,
    RQ_WORKER_KEY_PREFIX,
    SCHEDULER_WAKE_CHANNEL,
)
from rqstack.constants import DEFAULT_FAILURE_TTL_SECONDS as FAILURE_TTL
from rqstack.worker import journal
from rqstack.worker.retry import next_retry_delay
from rqstack.worker.unique import release_unique, unique_key_of

#: rq.results.Result.Type values.
RESULT_SUCCESSFUL = 1
RESULT_FAILED = 2
RESULT_STOPPED = 3
#: RQ's default result TTL, kept for jobs queued by stock code that name none.
RQ_DEFAULT_RESULT_TTL = 500


@dataclass(frozen=True)
class ExecRef:
    """One execution of a job: where it runs and under which execution id."""

    queue: str
    job_id: str
    execution_id: str

    @property
    def composite(self) -> str:
        """The ``<job>:<execution>`` member of ``rq:wip:<queue>``."""
        return f"{self.job_id}:{self.execution_id}"


def rq_time(moment: datetime) -> str:
    """RQ's timestamp format for job hash fields."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def remove_execution(pipe: Pipeline, ref: ExecRef, worker_name: str) -> None:
    """Drop the execution from the started registry, its record and the worker's index."""
    pipe.zrem(RQ_STARTED_REGISTRY_PREFIX + ref.queue, ref.composite)
    pipe.delete(RQ_EXECUTION_KEY_PREFIX + ref.composite)
    pipe.zrem(RQ_EXECUTIONS_KEY_PREFIX + ref.job_id, ref.execution_id)
    if worker_name:
        pipe.srem(f"{RQ_WORKER_KEY_PREFIX}{worker_name}:executions", ref.composite)
        journal.forget(pipe, worker_name, ref.execution_id)


def add_result(
    pipe: Pipeline,
    job_id: str,
    kind: int,
    worker_name: str,
    ref: ExecRef,
    started: float,
    ended: float,
    ttl: int,
    exc_string: str | None = None,
) -> None:
    """Append an RQ 3 result record (the ``rq:results:<id>`` stream) and bound its lifetime."""
    fields: dict[str, str | int | float] = {
        "type": kind,
        "worker_name": worker_name,
        "execution_id": ref.execution_id,
        "execution_started_at": started,
        "execution_ended_at": ended,
    }
    if exc_string is not None:
        fields["exc_string"] = b64encode(zlib.compress(exc_string.encode())).decode()
    key = RQ_RESULTS_KEY_PREFIX + job_id
    pipe.xadd(key, fields, maxlen=10)  # type: ignore[arg-type]
    pipe.expire(key, ttl)


def settle_failure(
    pipe: Pipeline,
    job: Job,
    ref: ExecRef,
    worker_name: str,
    exc_string: str,
    *,
    started: float,
    now: datetime,
    retryable: bool = True,
    worker_alive: bool = True,
) -> str:
    """Queue a failed attempt's writes: retry now, retry later (exact due time) or fail for good.

    A dead worker's hash is not counted into: that would bring its expired key back, for good.
    """
    ttl = job.failure_ttl if job.failure_ttl and job.failure_ttl > 0 else FAILURE_TTL
    now_ts = now.timestamp()
    add_result(pipe, job.id, RESULT_FAILED, worker_name, ref, started, now_ts, ttl, exc_string)
    remove_execution(pipe, ref, worker_name)
    if worker_name and worker_alive:
        pipe.hincrby(RQ_WORKER_KEY_PREFIX + worker_name, "failed_job_count", 1)
    retries_left = job.retries_left or 0
    if retryable and retries_left > 0:
        delay = next_retry_delay(job.meta, job.retry_intervals, retries_left)
        if delay > 0:
            due = now_ts + delay
            pipe.hset(
                job.key,
                mapping={"retries_left": retries_left - 1, "ended_at": rq_time(now), "status": "scheduled"},
            )
            pipe.zadd(RQ_SCHEDULED_REGISTRY_PREFIX + ref.queue, {job.id: due})
            pipe.publish(SCHEDULER_WAKE_CHANNEL, repr(due))
        else:
            pipe.hset(
                job.key,
                mapping={"retries_left": retries_left - 1, "ended_at": rq_time(now), "status": "queued"},
            )
            if job.enqueue_at_front_on_retry:
                pipe.lpush(RQ_QUEUE_KEY_PREFIX + ref.queue, job.id)
            else:
                pipe.rpush(RQ_QUEUE_KEY_PREFIX + ref.queue, job.id)
        return "retrying"
    pipe.hset(
        job.key,
        mapping={
            "status": "failed",
            "ended_at": rq_time(now),
            "exc_info": zlib.compress(exc_string.encode()),
        },
    )
    pipe.expire(job.key, ttl)
    pipe.zadd(RQ_FAILED_REGISTRY_PREFIX + ref.queue, {job.id: now_ts + ttl})
    _release(pipe, job)
    return "failed"


def settle_canceled(
    pipe: Pipeline, job: Job, ref: ExecRef, worker_name: str, *, started: float, now: datetime
) -> None:
    """Queue the writes of a job stopped by ``job cancel``: status canceled, in CanceledJobRegistry."""
    ttl = job.failure_ttl if job.failure_ttl and job.failure_ttl > 0 else FAILURE_TTL
    add_result(pipe, job.id, RESULT_STOPPED, worker_name, ref, started, now.timestamp(), ttl, "canceled")
    remove_execution(pipe, ref, worker_name)
    pipe.hset(job.key, mapping={"status": "canceled", "ended_at": rq_time(now)})
    pipe.expire(job.key, ttl)
    pipe.zadd(RQ_CANCELED_REGISTRY_PREFIX + ref.queue, {job.id: now.timestamp()})
    pipe.delete(CANCEL_KEY_PREFIX + job.id)
    _release(pipe, job)


def settle_requeue(pipe: Pipeline, job: Job, ref: ExecRef, worker_name: str) -> None:
    """Queue the writes that put an interrupted job back at the front of its queue, retries untouched."""
    remove_execution(pipe, ref, worker_name)
    pipe.hset(job.key, mapping={"status": "queued", "started_at": "", "worker_name": ""})
    pipe.lpush(RQ_QUEUE_KEY_PREFIX + ref.queue, job.id)


def _release(pipe: Pipeline, job: Job) -> None:
    key = unique_key_of(job.meta)
    if key is not None:
        release_unique(pipe, key, job.id)


def still_claimed(connection: redis.Redis, queue: str, member: str) -> bool:
    """Whether the started entry ``member`` (``job:execution``) of ``queue`` is still there: nobody,
    reaper or worker, has settled that execution."""
    return connection.zscore(RQ_STARTED_REGISTRY_PREFIX + queue, member) is not None
