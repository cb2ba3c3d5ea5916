"""Unique jobs: at most one queued-or-running job per key, claimed and enqueued in one Lua call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.client import Pipeline
from rq import Queue
from rq.job import Job, JobStatus

from rqstack.constants import RQ_QUEUES_KEY, SCHEDULER_WAKE_CHANNEL, UNIQUE_KEY_PREFIX

#: Meta key naming the job's unique key, so workers release it when the job ends.
UNIQUE_META_KEY = "rqstack_unique"

# A lock whose job has ended (or vanished) is stale: the new job takes it over, so a worker that
# died before releasing it never blocks the key for good.
_ENQUEUE_UNIQUE = """
local current = redis.call('GET', KEYS[1])
if current then
  local status = redis.call('HGET', ARGV[4] .. current, 'status')
  if status == 'queued' or status == 'started' or status == 'scheduled' or status == 'deferred' then
    return current
  end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
if ARGV[2] == 'queue' then
  redis.call('RPUSH', KEYS[3], ARGV[1])
  redis.call('SADD', KEYS[4], KEYS[3])
else
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  redis.call('PUBLISH', KEYS[5], ARGV[3])
end
return false
"""

# Release only our own lock: a later job may already own the key.
RELEASE_UNIQUE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def unique_lock_key(key: str) -> str:
    """Redis key of the lock for unique key ``key``."""
    return UNIQUE_KEY_PREFIX + key


def enqueue_unique(queue: Queue, job: Job, key: str, due: datetime | None) -> tuple[str, bool]:
    """Queue (or schedule) ``job`` unless a live job holds ``key``: (job id, True if created)."""
    queue._prepare_for_queue(job)
    if due is not None:
        job._status = JobStatus.SCHEDULED
    fields: list[Any] = []
    for name, value in job.to_dict().items():
        if value is not None and value != "":
            fields.append(name)
            fields.append(value if isinstance(value, bytes | str) else str(value))
    if due is None:
        target, mode, score = queue.key, "queue", "0"
    else:
        target, mode, score = queue.scheduled_job_registry.key, "schedule", repr(due.timestamp())
    script = queue.connection.register_script(_ENQUEUE_UNIQUE)
    existing = script(
        keys=[unique_lock_key(key), job.key, target, RQ_QUEUES_KEY, SCHEDULER_WAKE_CHANNEL],
        args=[job.id, mode, score, Job.redis_job_namespace_prefix, *fields],
    )
    if existing:
        return (existing.decode() if isinstance(existing, bytes) else str(existing)), False
    return job.id, True


def release_unique(pipe: Pipeline, key: str, job_id: str) -> None:
    """Queue the release of ``key`` on ``pipe`` if ``job_id`` still holds it."""
    pipe.eval(RELEASE_UNIQUE, 1, unique_lock_key(key), job_id)


def unique_key_of(meta: dict[str, Any]) -> str | None:
    """The unique key a job carries in its meta, if any."""
    value = meta.get(UNIQUE_META_KEY)
    return value if isinstance(value, str) else None
