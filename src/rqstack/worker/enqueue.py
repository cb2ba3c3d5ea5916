"""Put a registered job on an RQ queue, now or later, after every check has passed."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry
from rq.job import Job

from rqstack.constants import (
    DEFAULT_FAILURE_TTL_SECONDS,
    DEFAULT_JOB_TIMEOUT_SECONDS,
    DEFAULT_RESULT_TTL_SECONDS,
    NAME_RE,
)
from rqstack.durations import parse_duration
from rqstack.errors import BadInput
from rqstack.serializer import JSONFirstSerializer

# JOB_NAME_META_KEY is re-exported: workers and tools import it from here.
from rqstack.worker.job_hash import JOB_NAME_META_KEY as JOB_NAME_META_KEY
from rqstack.worker.job_hash import job_entry, timestamp_now, write_jobs
from rqstack.worker.jobs.params import check_arguments
from rqstack.worker.jobs.registry import JobDefinition, get_job
from rqstack.worker.retry import RETRY_META_KEY, RetryPolicy, parse_retry_spec
from rqstack.worker.unique import UNIQUE_META_KEY, enqueue_unique

MAX_RETRIES = 100
#: Jobs per Lua call in a bulk write: one round trip each, without blocking Redis for long.
WRITE_CHUNK = 1000


# Requests, prepared jobs and results are plain slotted dataclasses, not frozen ones: a frozen
# dataclass sets each field through object.__setattr__, which shows in the cost of a single enqueue.
# Nothing changes them after they are made.


@dataclass(slots=True)
class EnqueueRequest:
    """What a caller asks for; nothing is trusted until ``prepare`` has checked it."""

    job: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    at: datetime | None = None
    delay: float | None = None
    timeout: float | None = None
    retry: int | None = None
    #: Waits between retries in seconds, or a spec string (``30s,2m`` or ``exp:10s:10m``, see worker.retry).
    retry_intervals: Sequence[float] | str | None = None
    job_id: str | None = None
    unique: bool = False
    #: At most one queued-or-running job per key; implies ``unique``.
    unique_key: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PreparedJob:
    """A request that passed every check: enqueuing it cannot fail on bad input."""

    definition: JobDefinition
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    due: datetime | None
    timeout: float
    retry: int
    retry_intervals: tuple[float, ...]
    job_id: str | None
    meta: dict[str, Any]
    unique_key: str | None = None
    #: The compact JSON of ``[args, kwargs]`` made by the argument check; the job data reuses it.
    encoded_arguments: str | None = field(default=None, repr=False, compare=False)

    @property
    def description(self) -> str:
        """``name(args, key=value)`` as rq-dashboard and `rq info` show it."""
        shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        text = f"{self.definition.name}({', '.join(shown)})"
        return text if len(text) <= 200 else text[:199] + "…"


@dataclass(slots=True)
class EnqueueResult:
    """The job id, and whether the job waits for a later time."""

    job_id: str
    queue: str
    status: str
    due: datetime | None
    #: True when a unique job with the same key was already queued or running; ``job_id`` is that job.
    existing: bool = False


def prepare(request: EnqueueRequest, *, now: datetime | None = None) -> PreparedJob:
    """Check the request against the job registry and the naming rules; BadInput when anything is off."""
    definition = get_job(request.job)
    args, kwargs, encoded = check_arguments(
        definition.name, definition.func, request.args, request.kwargs or {}
    )
    # An empty queue name is refused like any other bad name, not read as "the default".
    queue = request.queue if request.queue is not None else definition.queue
    check_name(queue, "queue")
    if request.job_id is not None:
        check_name(request.job_id, "id")
    timeout = request.timeout if request.timeout is not None else definition.timeout
    if timeout is not None:
        # The shared duration rules: positive, finite, at most 10 years.
        timeout = parse_duration(timeout, field="timeout")
    retry = request.retry if request.retry is not None else definition.retry
    if not 0 <= retry <= MAX_RETRIES:
        raise BadInput(
            f"retry must be between 0 and {MAX_RETRIES}, got {retry}; nothing was queued",
            field="retry",
        )
    if request.retry_intervals is None:
        policy = _definition_policy(
            definition.retry_spec if definition.retry_spec is not None else definition.retry_intervals
        )
    else:
        policy = parse_retry_spec(request.retry_intervals, field="retry_interval")
    if any(i < 0 for i in policy.intervals):
        raise BadInput("retry intervals cannot be negative; nothing was queued", field="retry_interval")
    meta = {**request.meta, JOB_NAME_META_KEY: definition.name}
    if retry:
        meta[RETRY_META_KEY] = policy.as_meta(retry)
    unique_key = _unique_key(request, definition.name, args, kwargs)
    if unique_key is not None:
        meta[UNIQUE_META_KEY] = unique_key
    return PreparedJob(
        definition=definition,
        args=args,
        kwargs=kwargs,
        queue=queue,
        due=_due(request, now),
        timeout=timeout or DEFAULT_JOB_TIMEOUT_SECONDS,
        retry=retry,
        retry_intervals=_rq_intervals(policy, retry),
        job_id=request.job_id,
        meta=meta,
        unique_key=unique_key,
        encoded_arguments=encoded,
    )


def enqueue(
    connection: redis.Redis, request: EnqueueRequest, *, now: datetime | None = None
) -> EnqueueResult:
    """Validate, then queue the job (or schedule it for ``at`` / ``delay``) in one transaction."""
    return enqueue_prepared(connection, prepare(request, now=now))


def enqueue_many(
    connection: redis.Redis, requests: Sequence[EnqueueRequest], *, now: datetime | None = None
) -> list[EnqueueResult]:
    """Check every request first (BadInput for the first bad one, nothing written), then write all at once."""
    return enqueue_many_prepared(connection, [prepare(request, now=now) for request in requests])


def enqueue_prepared(connection: redis.Redis, prepared: PreparedJob) -> EnqueueResult:
    """Write a checked job to Redis; a delayed one goes to RQ's ScheduledJobRegistry at its exact time."""
    if prepared.unique_key is not None:
        return enqueue_many_prepared(connection, [prepared])[0]
    # The common single call, without the batch bookkeeping of enqueue_many_prepared.
    job_id, entry = job_entry(prepared, timestamp_now())
    write_jobs(connection, entry)
    status = "queued" if prepared.due is None else "scheduled"
    return EnqueueResult(job_id, prepared.queue, status, prepared.due)


def enqueue_many_prepared(
    connection: redis.Redis, prepared_jobs: Sequence[PreparedJob]
) -> list[EnqueueResult]:
    """Write checked jobs in one Lua call per chunk (unique ones each in their own); results in order."""
    results: list[EnqueueResult] = []
    entries: list[Any] = []
    pending = 0
    stamp = timestamp_now()
    for prepared in prepared_jobs:
        if prepared.unique_key is not None:
            queue = make_queue(prepared.queue, connection)
            results.append(_enqueue_unique(queue, build_job(queue, prepared), prepared))
            continue
        job_id, entry = job_entry(prepared, stamp)
        entries += entry
        pending += 1
        if prepared.due is None:
            results.append(EnqueueResult(job_id, prepared.queue, "queued", None))
        else:
            results.append(EnqueueResult(job_id, prepared.queue, "scheduled", prepared.due))
        if pending == WRITE_CHUNK:
            write_jobs(connection, entries)
            entries, pending = [], 0
    if pending:
        write_jobs(connection, entries)
    return results


def build_job(queue: Queue, prepared: PreparedJob) -> Job:
    """The RQ job (not yet written) that carries ``prepared``."""
    retry = None
    if prepared.retry:
        retry = Retry(max=prepared.retry, interval=[round(i) for i in prepared.retry_intervals] or 0)
    return queue.create_job(
        prepared.definition.import_path,
        args=tuple(prepared.args),
        kwargs=prepared.kwargs,
        # RQ takes whole seconds; round up so a job never gets less time than asked.
        timeout=math.ceil(prepared.timeout),
        result_ttl=DEFAULT_RESULT_TTL_SECONDS,
        failure_ttl=DEFAULT_FAILURE_TTL_SECONDS,
        description=prepared.description,
        job_id=prepared.job_id,
        meta=prepared.meta,
        retry=retry,
    )


def _enqueue_unique(queue: Queue, job: Job, prepared: PreparedJob) -> EnqueueResult:
    assert prepared.unique_key is not None
    job_id, created = enqueue_unique(queue, job, prepared.unique_key, prepared.due)
    if not created:
        return EnqueueResult(job_id, prepared.queue, "existing", prepared.due, existing=True)
    return EnqueueResult(
        job_id, prepared.queue, "queued" if prepared.due is None else "scheduled", prepared.due
    )


def make_queue(name: str, connection: redis.Redis) -> Queue:
    """An RQ queue that reads and writes rqstack's serializer."""
    return Queue(name, connection=connection, serializer=JSONFirstSerializer)


def check_name(value: str, field_name: str) -> None:
    """BadInput unless ``value`` is 1-128 of [A-Za-z0-9_-]."""
    if not isinstance(value, str) or not _is_name(value):
        raise BadInput(
            f"{field_name} {value!r} is not allowed; nothing was written; use 1-128 letters, digits, _ or -",
            field=field_name,
        )


# Cached: the same few queue names come with every call.
@functools.lru_cache(maxsize=1024)
def _is_name(value: str) -> bool:
    return NAME_RE.match(value) is not None


def default_unique_key(job_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """``<job name>:<hash of the canonical JSON of args and kwargs>``: equal calls share one key."""
    canonical = json.dumps([list(args), kwargs], sort_keys=True, separators=(",", ":"), allow_nan=False)
    return f"{job_name}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


# Cached: a definition's own spec is fixed at registration, and parsing it each call shows in profiles.
@functools.lru_cache(maxsize=1024)
def _definition_policy(spec: str | tuple[float, ...]) -> RetryPolicy:
    return parse_retry_spec(spec, field="retry_interval")


@functools.lru_cache(maxsize=1024)
def _rq_intervals(policy: RetryPolicy, retry: int) -> tuple[float, ...]:
    return tuple(float(i) for i in policy.rq_intervals(retry))


def _unique_key(
    request: EnqueueRequest, job_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> str | None:
    if request.unique_key is not None:
        if not request.unique_key or len(request.unique_key) > 512:
            raise BadInput(
                "unique_key must be 1-512 characters; nothing was queued; use e.g. crawl:user-42",
                field="unique_key",
            )
        return request.unique_key
    if not request.unique:
        return None
    if request.job_id is not None:
        return f"id:{request.job_id}"
    return default_unique_key(job_name, args, kwargs)


def _due(request: EnqueueRequest, now: datetime | None) -> datetime | None:
    if request.at is None and request.delay is None:
        return None
    now = now or datetime.now(UTC)
    if request.at is not None and request.delay is not None:
        raise BadInput("give either a delay (in) or a time (at), not both; nothing was queued", field="at")
    if request.delay is not None:
        # The shared duration rules refuse negative values, NaN, infinity and more than 10 years.
        delay = parse_duration(request.delay, field="in", allow_zero=True)
        return now + timedelta(seconds=delay) if delay > 0 else None
    if request.at is not None:
        if request.at.tzinfo is None:
            raise BadInput(
                f"time {request.at.isoformat()} has no time zone; nothing was queued; "
                "add an offset like +00:00 or Z",
                field="at",
            )
        return request.at.astimezone(UTC) if request.at > now else None
    return None
