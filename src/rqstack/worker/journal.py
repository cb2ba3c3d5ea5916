"""A worker's journal: which of its claimed jobs it has begun and which have returned.

A worker claims fast jobs a batch at a time and records their successes a batch at a time. When it
is SIGKILLed it may therefore hold jobs it never began, and successes Redis has not seen. Stock RQ
takes one job at a time and has neither; without the journal the reaper would fail or retry them
all as if each had been running. One hash per worker (``rqstack:journal:<worker>``) maps execution id
to state:

- ``h`` held: written by the claim script. The reaper puts the job back at the front of its queue,
  retries untouched, as a graceful stop would.
- ``b`` begun: written before the job's function is called. The reaper treats it as abandoned:
  retried if it has retries left, else failed.
- ``s<result>`` returned, with the base64 result (empty for None): the reaper records it finished.

An execution's field goes when its outcome is recorded. ``b`` and ``s`` go out on the worker's own
hot-path connection with ``CLIENT REPLY SKIP``: one send per job and no wait, in order with its claim
calls. A ``b`` sent just before Redis itself went down may be lost; if the worker is then killed too,
before it records the job, the reaper reads ``h`` and the job runs again. A journal that is gone
(expired, or a worker without one) means the old rule: every job is abandoned.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.client import Pipeline

from rqstack import redis_direct
from rqstack.constants import WORKER_JOURNAL_KEY_PREFIX

HELD = "h"
BEGUN = "b"
SUCCEEDED = "s"


@dataclass(frozen=True)
class Entry:
    """One execution's state in the journal and, when it returned, its encoded result."""

    state: str
    result: str = ""


def key(worker_name: str) -> str:
    """The worker's journal hash."""
    return WORKER_JOURNAL_KEY_PREFIX + worker_name


def write_begun(
    connection: redis.Redis, worker_name: str, execution_id: str, returned: tuple[str, str] | None
) -> None:
    """Mark ``execution_id`` begun and, in the same send, ``returned`` (execution id, result) succeeded."""
    args = ["HSET", key(worker_name), execution_id, BEGUN]
    if returned is not None:
        args += [returned[0], SUCCEEDED + returned[1]]
    redis_direct.send_unanswered(connection, *args)


def read(connection: redis.Redis, worker_name: str) -> dict[str, Entry]:
    """Execution id -> entry of the worker's journal (empty when there is none)."""
    raw: dict[bytes, bytes] = connection.hgetall(key(worker_name))  # type: ignore[assignment]
    return {field.decode(): _entry(value.decode()) for field, value in raw.items()}


def forget(pipe: Pipeline, worker_name: str, execution_id: str) -> None:
    """Queue the removal of an execution whose outcome the same pipeline records."""
    pipe.hdel(key(worker_name), execution_id)


def claim_order(execution_id: str) -> tuple[int, str]:
    """Sort key putting one worker's execution ids (a fixed prefix plus a counter) in claim order."""
    return len(execution_id), execution_id


def _entry(value: str) -> Entry:
    return Entry(value[:1], value[1:])
