"""RQ 3.0's job hash, built field by field without instantiating ``rq.job.Job`` (the enqueue hot path).

``Queue.create_job`` + ``Job.to_dict`` cost more than the Redis write itself. The fields, their
encodings and the key layout here are exactly what RQ writes for a job rqstack queues (minus the
empty ones, which RQ reads as missing); tests/integration/test_enqueue_hash.py compares the two.
"""

from __future__ import annotations

import functools
import json
import math
import os
import threading
import time
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis

from rqstack import redis_direct
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

_RESULT_TTL = str(DEFAULT_RESULT_TTL_SECONDS)
_FAILURE_TTL = str(DEFAULT_FAILURE_TTL_SECONDS)
#: Meta key naming the registered job, so tools can show ``backup.postgres`` instead of an import path.
JOB_NAME_META_KEY = "rqstack_job"
#: Job data shorter than this is stored as it is (see _compressed).
COMPRESS_FROM_BYTES = 256
#: WRITE_JOBS arguments per job.
ENTRY_SIZE = 10


def _lua(text: str) -> str:
    # A Lua string literal: the constants are plain ASCII, where JSON's quoting is Lua's.
    return json.dumps(text)


# One call writes a whole batch: per job the hash, then the push (or the scheduled entry at its exact
# score plus a wake-up), so a worker never sees a job id before its hash. Field names and constant
# values live in the script: redis-py packs every argument in Python, which costs more than the write.
# ARGV per job: id, queue name, score ('' = queue now), created_at, data, description, meta, timeout,
# retries_left ('' = no retries), retry_intervals.
WRITE_JOBS = f"""
local job_prefix, queue_prefix = {_lua(RQ_JOB_KEY_PREFIX)}, {_lua(RQ_QUEUE_KEY_PREFIX)}
local scheduled_prefix, queues = {_lua(RQ_SCHEDULED_REGISTRY_PREFIX)}, {_lua(RQ_QUEUES_KEY)}
local wake = {_lua(SCHEDULER_WAKE_CHANNEL)}
local last_queue
for i = 1, #ARGV, {ENTRY_SIZE} do
  local id, queue, score, created = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local key, queue_key = job_prefix .. id, queue_prefix .. queue
  if score == '' then
    redis.call('HSET', key, 'created_at', created, 'data', ARGV[i + 4], 'description', ARGV[i + 5],
      'failure_ttl', {_lua(_FAILURE_TTL)}, 'meta', ARGV[i + 6], 'origin', queue,
      'result_ttl', {_lua(_RESULT_TTL)}, 'timeout', ARGV[i + 7], 'enqueued_at', created, 'status', 'queued')
  else
    -- RQ's schedule_job writes no enqueued_at: the scheduler sets it when it moves the job.
    redis.call('HSET', key, 'created_at', created, 'data', ARGV[i + 4], 'description', ARGV[i + 5],
      'failure_ttl', {_lua(_FAILURE_TTL)}, 'meta', ARGV[i + 6], 'origin', queue,
      'result_ttl', {_lua(_RESULT_TTL)}, 'timeout', ARGV[i + 7], 'status', 'scheduled')
  end
  if ARGV[i + 8] ~= '' then
    redis.call('HSET', key, 'retries_left', ARGV[i + 8], 'retry_intervals', ARGV[i + 9])
  end
  -- A batch is mostly one queue: add it to the set once per run of jobs, not per job.
  if queue_key ~= last_queue then
    redis.call('SADD', queues, queue_key)
    last_queue = queue_key
  end
  if score == '' then
    redis.call('RPUSH', queue_key, id)
  else
    redis.call('ZADD', scheduled_prefix .. queue, score, id)
    redis.call('PUBLISH', wake, score)
  end
end
return #ARGV
"""
_WRITE_JOBS = redis_direct.Script(WRITE_JOBS)


def timestamp_now() -> str:
    """Now as RQ writes created_at / enqueued_at (rq.utils.utcformat), formatting the date once a second."""
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return f"{_second_prefix(seconds)}{micros:06d}Z"


@functools.lru_cache(maxsize=4)
def _second_prefix(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))


class _RandomBytes:
    """os.urandom read 4 KiB at a time: one system call per 256 job ids instead of one per id.

    A forked child starts on a fresh buffer, so parent and child never hand out the same bytes.
    """

    SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0
        os.register_at_fork(after_in_child=self._forget)

    def take16(self) -> bytes:
        with self._lock:
            if self._offset >= len(self._buffer):
                self._buffer, self._offset = os.urandom(self.SIZE), 0
            chunk = self._buffer[self._offset : self._offset + 16]
            self._offset += 16
        return chunk

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._offset = b"", 0


_random_bytes = _RandomBytes()


def new_job_id() -> str:
    """``str(uuid.uuid4())``, RQ's job id, without building a UUID object (half the cost per job)."""
    n = int.from_bytes(_random_bytes.take16(), "big")
    # The version (4) and RFC 4122 variant bits, exactly as uuid.UUID(version=4) sets them.
    n = (n & ~(0xC000 << 48) | 0x8000 << 48) & ~(0xF000 << 64) | 4 << 76
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def job_entry(prepared: PreparedJob, stamp: str) -> tuple[str, list[Any]]:
    """(job id, WRITE_JOBS arguments for it): the id is ``prepared.job_id`` or a new uuid4 like RQ's."""
    job_id = prepared.job_id or new_job_id()
    retries_left = retry_intervals = ""
    if prepared.retry:
        retries_left = str(prepared.retry)
        retry_intervals = _rq_retry_intervals(prepared)
    return job_id, [
        job_id,
        prepared.queue,
        "" if prepared.due is None else repr(prepared.due.timestamp()),
        stamp,
        _compressed(job_data(prepared)),
        prepared.description,
        _encode_meta(prepared.meta, prepared.definition.name),
        # RQ takes whole seconds; round up so a job never gets less time than asked.
        _seconds(prepared.timeout),
        retries_left,
        retry_intervals,
    ]


def template_fields(prepared: PreparedJob) -> list[str | bytes]:
    """The HSET field/value list of ``prepared``'s job hash without its id, times and status.

    Schedules keep it as their job template; each fire copies it and adds those per-job fields.
    """
    fields: list[str | bytes] = [
        "data",
        _compressed(job_data(prepared)),
        "description",
        prepared.description,
        "failure_ttl",
        _FAILURE_TTL,
        "meta",
        _encode_meta(prepared.meta, prepared.definition.name),
        "origin",
        prepared.queue,
        "result_ttl",
        _RESULT_TTL,
        "timeout",
        _seconds(prepared.timeout),
    ]
    if prepared.retry:
        fields += ["retries_left", str(prepared.retry), "retry_intervals", _rq_retry_intervals(prepared)]
    return fields


def _rq_retry_intervals(prepared: PreparedJob) -> str:
    # What rq.Retry(max, interval=[round(i) ...] or 0) puts on the job.
    return json.dumps([round(i) for i in prepared.retry_intervals] or [0])


def write_jobs(connection: redis.Redis, entries: Sequence[Any]) -> None:
    """Run WRITE_JOBS over the concatenated ``job_entry`` arguments."""
    _WRITE_JOBS(connection, args=entries)


def _compressed(data: bytes) -> bytes:
    # RQ compresses every job's data and reads uncompressed data too (zlib.error falls back to the
    # raw bytes; JSON never starts like a zlib stream). Below this size zlib saves a few bytes at best
    # and its set-up costs more than the rest of building the job.
    return zlib.compress(data) if len(data) >= COMPRESS_FROM_BYTES else data


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


def _encode_meta(meta: dict[str, Any], job_name: str) -> bytes:
    # Most jobs carry only their name: reuse its encoding instead of dumping the same dict each call.
    if len(meta) == 1 and meta.get(JOB_NAME_META_KEY) == job_name:
        return _name_meta(job_name)
    return encode(meta)


@functools.lru_cache(maxsize=1024)
def _name_meta(job_name: str) -> bytes:
    return encode({JOB_NAME_META_KEY: job_name})


@functools.lru_cache(maxsize=256)
def _seconds(timeout: float) -> str:
    return str(math.ceil(timeout))


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
