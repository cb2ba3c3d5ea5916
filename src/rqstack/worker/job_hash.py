"""RQ 3.0's job hash, built field by field without instantiating ``rq.job.Job`` (the enqueue hot path).

``Queue.create_job`` + ``Job.to_dict`` cost more than the Redis write itself. The fields, their
encodings and the key layout here are exactly what RQ writes for a job rqstack queues (minus the
empty ones, which RQ reads as missing); tests/integration/test_enqueue_hash.py compares the two.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import redis
from redis.exceptions import NoScriptError

from rqstack.constants import (
    DEFAULT_FAILURE_TTL_SECONDS,
    DEFAULT_RESULT_TTL_SECONDS,
    RQ_JOB_KEY_PREFIX,
    RQ_QUEUE_KEY_PREFIX,
    RQ_QUEUES_KEY,
    RQ_SCHEDULED_REGISTRY_PREFIX,
    SCHEDULER_WAKE_CHANNEL,
)
from rqstack.serializer import JSONFirstSerializer

if TYPE_CHECKING:
    from rqstack.worker.enqueue import PreparedJob

# rq.utils.utcformat's format: RQ parses created_at / enqueued_at back with it.
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_RESULT_TTL = str(DEFAULT_RESULT_TTL_SECONDS)
_FAILURE_TTL = str(DEFAULT_FAILURE_TTL_SECONDS)

# One call writes a whole batch: per job the hash, then the push (or the scheduled entry at its exact
# score plus a wake-up), so a worker never sees a job id before its hash. The header is
# job key prefix, queue key prefix, scheduled registry prefix, queues set, wake channel; then per job
# id, queue name, score ('' = queue now), field count, fields.
WRITE_JOBS = """
local job_prefix, queue_prefix, scheduled_prefix = ARGV[1], ARGV[2], ARGV[3]
local queues, wake = ARGV[4], ARGV[5]
local i, n = 6, #ARGV
while i <= n do
  local id, queue, score = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local last = i + 3 + tonumber(ARGV[i + 3])
  local queue_key = queue_prefix .. queue
  redis.call('SADD', queues, queue_key)
  redis.call('HSET', job_prefix .. id, unpack(ARGV, i + 4, last))
  if score == '' then
    redis.call('RPUSH', queue_key, id)
  else
    redis.call('ZADD', scheduled_prefix .. queue, score, id)
    redis.call('PUBLISH', wake, score)
  end
  i = last + 1
end
return n
"""
_WRITE_JOBS_SHA = hashlib.sha1(WRITE_JOBS.encode()).hexdigest()
_HEADER = (
    RQ_JOB_KEY_PREFIX,
    RQ_QUEUE_KEY_PREFIX,
    RQ_SCHEDULED_REGISTRY_PREFIX,
    RQ_QUEUES_KEY,
    SCHEDULER_WAKE_CHANNEL,
)


def job_entry(prepared: PreparedJob, now: datetime) -> tuple[str, list[Any]]:
    """(job id, WRITE_JOBS arguments for it): the id is ``prepared.job_id`` or a new uuid4 like RQ's."""
    job_id = prepared.job_id or str(uuid4())
    stamp = now.strftime(_TIMESTAMP_FORMAT)
    fields: list[Any] = [
        "created_at",
        stamp,
        "data",
        zlib.compress(job_data(prepared)),
        "description",
        prepared.description,
        "failure_ttl",
        _FAILURE_TTL,
        "meta",
        encode(prepared.meta),
        "origin",
        prepared.queue,
        "result_ttl",
        _RESULT_TTL,
        # RQ takes whole seconds; round up so a job never gets less time than asked.
        "timeout",
        str(math.ceil(prepared.timeout)),
    ]
    if prepared.retry:
        # What rq.Retry(max, interval=[round(i) ...] or 0) puts on the job.
        intervals = [round(i) for i in prepared.retry_intervals] or [0]
        fields += ["retries_left", str(prepared.retry), "retry_intervals", json.dumps(intervals)]
    if prepared.due is None:
        fields += ["enqueued_at", stamp, "status", "queued"]
        score = ""
    else:
        # RQ's schedule_job writes no enqueued_at: the scheduler sets it when it moves the job.
        fields += ["status", "scheduled"]
        score = repr(prepared.due.timestamp())
    return job_id, [job_id, prepared.queue, score, len(fields), *fields]


def write_jobs(connection: redis.Redis, entries: Sequence[Any]) -> None:
    """Run WRITE_JOBS over the concatenated ``job_entry`` arguments, loading the script if Redis lost it."""
    try:
        connection.evalsha(_WRITE_JOBS_SHA, 0, *_HEADER, *entries)
    except NoScriptError:
        # Nothing ran: Redis restarted or flushed its script cache since the last call.
        connection.script_load(WRITE_JOBS)
        connection.evalsha(_WRITE_JOBS_SHA, 0, *_HEADER, *entries)


def job_data(prepared: PreparedJob) -> bytes:
    """``JSONFirstSerializer.dumps((import path, None, args, kwargs))``, reusing the JSON prepare made."""
    path = prepared.definition.import_path
    encoded = prepared.encoded_arguments
    if encoded is not None and _plain(prepared.args) and _plain(prepared.kwargs):
        # encoded is '[<args>,<kwargs>]' in the serializer's own format; plain values round-trip.
        return f"[{_json_string(path)},null,{encoded[1:]}".encode()
    return JSONFirstSerializer.dumps((path, None, tuple(prepared.args), prepared.kwargs))


def encode(value: Any) -> bytes:
    """``JSONFirstSerializer.dumps(value)`` without its decode-and-compare when ``value`` is plain JSON."""
    if _plain(value):
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        except ValueError:  # NaN or infinity: the serializer pickles those
            pass
    return JSONFirstSerializer.dumps(value)


@functools.lru_cache(maxsize=1024)
def _json_string(text: str) -> str:
    return json.dumps(text)


def _plain(value: Any) -> bool:
    # Exactly the types whose JSON decodes to an equal value of the same type (the serializer's test).
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return True
    if kind is list or kind is tuple:
        return all(map(_plain, value))
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False
