"""A worker's presence in RQ's model: the ``rq:worker:<name>`` hash, worker sets and heartbeats."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import redis
from rq.version import VERSION

from rqstack.constants import (
    RQ_EXECUTION_KEY_PREFIX,
    RQ_STARTED_REGISTRY_PREFIX,
    RQ_WORKER_KEY_PREFIX,
    RQ_WORKERS_BY_QUEUE_PREFIX,
    RQ_WORKERS_KEY,
)
from rqstack.worker import journal
from rqstack.worker.bookkeeping import ExecRef, rq_time


def register_birth(
    connection: redis.Redis, name: str, queues: Sequence[str], ttl: float, mode: str, *, again: bool = False
) -> None:
    """Write the worker hash and set memberships ``rq info`` and rq-dashboard read.

    ``again``: the worker registers itself anew after its key lapsed; whatever hash has its name is
    its own remains, not another live worker.
    """
    key = RQ_WORKER_KEY_PREFIX + name
    if not again and connection.exists(key) and not connection.hexists(key, "death"):
        raise ValueError(f"a live worker named {name!r} exists already; give this one another --name")
    now = rq_time(datetime.now(UTC))
    address = _client_address(connection)
    with connection.pipeline() as pipe:
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={
                "birth": now,
                "last_heartbeat": now,
                "queues": ",".join(queues),
                "pid": os.getpid(),
                "hostname": socket.gethostname(),
                "ip_address": address,
                "version": VERSION,
                "python_version": sys.version,
                "state": "idle",
                "serializer": "rqstack.serializer.JSONFirstSerializer",
                "rqstack_mode": mode,
            },
        )
        pipe.sadd(RQ_WORKERS_KEY, key)
        for queue in queues:
            pipe.sadd(RQ_WORKERS_BY_QUEUE_PREFIX + queue, key)
        pipe.pexpire(key, _milliseconds(ttl))
        pipe.execute()


def _client_address(connection: redis.Redis) -> str:
    """The worker's address as Redis sees it (``ip:port``), which ``rq info`` shows; as RQ finds it."""
    try:
        return str(connection.client_info()["addr"])
    except redis.ResponseError:  # Redis < 6.2 has no CLIENT INFO
        return "unknown"


def register_death(connection: redis.Redis, name: str, queues: Sequence[str]) -> None:
    """Leave the worker sets; the hash stays a minute with ``death`` set, as RQ does."""
    key = RQ_WORKER_KEY_PREFIX + name
    with connection.pipeline() as pipe:
        pipe.srem(RQ_WORKERS_KEY, key)
        for queue in queues:
            pipe.srem(RQ_WORKERS_BY_QUEUE_PREFIX + queue, key)
        pipe.hset(key, mapping={"death": rq_time(datetime.now(UTC)), "state": "dead"})
        pipe.expire(key, 60)
        pipe.delete(key + ":executions", journal.key(name))
        pipe.execute()


def heartbeat(connection: redis.Redis, name: str, ttl: float, executions: Sequence[ExecRef]) -> bool:
    """Extend the worker key and each claimed job's started entry and execution record by ``ttl``.

    Returns False when the worker key had expired (a Redis outage longer than ``ttl``), so the caller
    registers again; execution records are rewritten whole, since they may have expired too. A hash
    without ``birth`` counts as expired: the worker's own state writes recreate the key with only
    those fields, and ``rq info`` could not show it.
    """
    key = RQ_WORKER_KEY_PREFIX + name
    now = time.time()
    with connection.pipeline(transaction=False) as pipe:
        pipe.hexists(key, "birth")
        pipe.hset(key, "last_heartbeat", rq_time(datetime.now(UTC)))
        pipe.pexpire(key, _milliseconds(ttl))
        pipe.expire(key + ":executions", int(ttl) + 60)
        for ref in executions:
            # XX: an entry the reaper already took must not come back.
            pipe.zadd(RQ_STARTED_REGISTRY_PREFIX + ref.queue, {ref.composite: now + ttl}, xx=True)
            pipe.hset(
                RQ_EXECUTION_KEY_PREFIX + ref.composite,
                mapping={
                    "id": ref.execution_id,
                    "job_id": ref.job_id,
                    "worker_name": name,
                    "last_heartbeat": now,
                },
            )
            pipe.expire(RQ_EXECUTION_KEY_PREFIX + ref.composite, int(ttl))
        existed = pipe.execute()[0]
    return bool(existed)


def _milliseconds(ttl: float) -> int:
    # The key lapses when its jobs' started entries do (their scores are now + ttl), not up to a
    # second apart as whole-second EXPIRE would make it.
    return max(1, int(ttl * 1000))
