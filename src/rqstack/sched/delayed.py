"""Move due delayed jobs to their queues: RQ's ScheduledJobRegistry and rq-scheduler's sorted set."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis
from rq.job import Job
from rq.utils import utcformat

from rqstack import constants
from rqstack.redis_values import as_text
from rqstack.sched import scripts
from rqstack.serializer import JSONFirstSerializer

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """A fenced script refused to run: another scheduler leads now."""


def move_registries(
    connection: redis.Redis, now: datetime, fence: Sequence[str], batch: int = constants.SCHEDULER_BATCH_SIZE
) -> tuple[int, bool]:
    """Move due jobs of every ``rq:scheduled:<queue>`` in one Lua call; (moved, more are due)."""
    reply = scripts.run_many(connection, [registries_command(now, fence, batch)])[0]
    return finish_registries(connection, reply)


def registries_command(now: datetime, fence: Sequence[str], batch: int) -> tuple[Any, ...]:
    """The script call ``move_registries`` makes, for a caller that sends it with other commands."""
    return scripts.command(
        "move_registries",
        keys=[
            constants.RQ_SCHEDULED_REGISTRY_PREFIX,
            constants.SCHEDULER_LEADER_KEY,
            constants.SCHEDULER_FENCE_KEY,
            constants.RQ_QUEUES_KEY,
            constants.SCHEDULER_STATE_KEY,
        ],
        args=[
            *fence,
            repr(now.timestamp()),
            utcformat(now),
            batch,
            constants.RQ_SCHEDULED_REGISTRY_PREFIX,
            constants.RQ_QUEUE_KEY_PREFIX,
            constants.RQ_JOB_KEY_PREFIX,
        ],
    )


def finish_registries(connection: redis.Redis, reply: Any) -> tuple[int, bool]:
    """(moved, more are due) from the reply of ``registries_command``; LeaseLost when fenced out."""
    if reply == -1:
        raise LeaseLost()
    moved, more, slow = int(reply[0]), bool(reply[1]), reply[2]
    for index in range(0, len(slow), 2):
        moved += _move_rate_limited(connection, as_text(slow[index]), as_text(slow[index + 1]))
    return moved, more


def _move_rate_limited(connection: redis.Redis, queue_name: str, job_id: str) -> int:
    # Rate-limited jobs need RQ's slot accounting; hand them to RQ's own code path.
    from rq.registry import ScheduledJobRegistry

    from rqstack.worker.enqueue import make_queue

    queue = make_queue(queue_name, connection)
    registry = ScheduledJobRegistry(queue=queue)
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONFirstSerializer)
    except Exception:  # the job vanished or cannot be read: drop the dangling entry
        logger.warning("dropping unreadable scheduled job %s of queue %s", job_id, queue_name, exc_info=True)
        registry.remove(job_id)
        return 0
    with connection.pipeline() as pipe:
        registry.remove(job.id, pipeline=pipe)
        queue._enqueue_rate_limited_job(job, pipeline=pipe, at_front=job.should_enqueue_at_front())
        pipe.execute()
    return 1


def move_rq_scheduler(
    connection: redis.Redis, now: datetime, fence: Sequence[str], batch: int = constants.SCHEDULER_BATCH_SIZE
) -> tuple[int, bool]:
    """Serve rq-scheduler's set: one-shots and periodic jobs in Lua, the rest through rq-scheduler's code."""
    reply = scripts.run_many(connection, [scheduler_set_command(now, fence, batch)])[0]
    return finish_scheduler_set(connection, now, fence, batch, reply)


def scheduler_set_command(now: datetime, fence: Sequence[str], batch: int) -> tuple[Any, ...]:
    """The script call ``move_rq_scheduler`` starts with, for a caller that sends it with others."""
    return scripts.command("move_scheduler_set", keys=_SET_KEYS, args=[*_set_common(now, fence), batch])


def finish_scheduler_set(
    connection: redis.Redis, now: datetime, fence: Sequence[str], batch: int, reply: Any
) -> tuple[int, bool]:
    """(moved, more are due) from the reply of ``scheduler_set_command``, serving periodic and other jobs."""
    if reply == -1:
        raise LeaseLost()
    moved, seen = int(reply[0]), int(reply[1])
    periodic = [as_text(i) for i in reply[2]]
    others = [as_text(i) for i in reply[3]]
    if periodic:
        pairs = _next_runs(connection, periodic, now, others)
        if pairs:
            done = scripts.script(connection, "move_scheduler_periodic")(
                keys=_SET_KEYS, args=[*_set_common(now, fence), *pairs]
            )
            if done == -1:
                raise LeaseLost()
            moved += int(done)
    if others:
        moved += _move_special(connection, others)
    return moved, seen >= batch


_SET_KEYS = (
    constants.RQ_SCHEDULER_JOBS_KEY,
    constants.SCHEDULER_LEADER_KEY,
    constants.SCHEDULER_FENCE_KEY,
    constants.RQ_QUEUES_KEY,
    constants.SCHEDULER_STATE_KEY,
)


def _set_common(now: datetime, fence: Sequence[str]) -> list[Any]:
    return [
        *fence,
        repr(now.timestamp()),
        utcformat(now),
        constants.RQ_QUEUE_KEY_PREFIX,
        constants.RQ_JOB_KEY_PREFIX,
    ]


def _next_runs(connection: redis.Redis, ids: list[str], now: datetime, leftovers: list[str]) -> list[str]:
    """(id, next score) pairs, computed as rq-scheduler's enqueue_job does (cron: once per expression)."""
    from rq_scheduler.utils import get_next_scheduled_time, to_unix

    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(constants.RQ_JOB_KEY_PREFIX + job_id, "meta")
        metas = pipe.execute()
    cron_next: dict[tuple[str, bool], int] = {}
    pairs: list[str] = []
    for job_id, raw in zip(ids, metas, strict=True):
        try:
            meta: Any = JSONFirstSerializer.loads(raw) if raw else {}
        except Exception:  # unreadable meta: rq-scheduler's code would fail the same way; skip the job
            logger.warning("rq-scheduler job %s has unreadable meta; left in place", job_id, exc_info=True)
            continue
        if not isinstance(meta, dict) or not (meta.get("interval") or meta.get("cron_string")):
            leftovers.append(job_id)  # the words matched elsewhere in meta: not periodic after all
        elif meta.get("interval"):
            # rq-scheduler: to_unix(utcnow()) + interval, whole seconds.
            pairs += [job_id, str(int(now.timestamp()) + int(meta["interval"]))]
        else:
            key = (str(meta["cron_string"]), bool(meta.get("use_local_timezone")))
            if key not in cron_next:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Version 0.22.0", category=FutureWarning)
                    cron_next[key] = to_unix(get_next_scheduled_time(key[0], use_local_timezone=key[1]))
            pairs += [job_id, str(cron_next[key])]
    return pairs


def _move_special(connection: redis.Redis, ids: list[str]) -> int:
    from rq_scheduler import Scheduler as RQScheduler

    rq_scheduler = RQScheduler(connection=connection)
    moved = 0
    for job_id in ids:
        try:
            job = Job.fetch(job_id, connection=connection)
        except Exception:  # missing or unreadable: rq-scheduler itself would cancel it too
            logger.warning("dropping unreadable rq-scheduler job %s", job_id, exc_info=True)
            connection.zrem(constants.RQ_SCHEDULER_JOBS_KEY, job_id)
            continue
        with warnings.catch_warnings():
            # crontab (used by rq-scheduler for cron jobs) warns on every call about a future default.
            warnings.filterwarnings("ignore", message="Version 0.22.0", category=FutureWarning)
            rq_scheduler.enqueue_job(job)
        moved += 1
    return moved
