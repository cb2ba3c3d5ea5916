"""Find jobs whose worker died (SIGKILL, OOM, host loss) and retry or fail them within seconds.

A started job is abandoned when its ``rq:wip:<queue>`` entry was not refreshed in time (the score is
the heartbeat deadline), its execution record expired, or its worker's key expired. Stock RQ notices
after ~811 s; rqstack workers refresh every 5 s with a 20 s TTL and reap every 5 s, so a dead worker's
jobs move on within ~30 s. Each entry is claimed with a lapsing lock and removed in the transaction
that settles it, so concurrent reapers never double-handle it and a reaper killed halfway loses
nothing.

A dead worker's journal (worker/journal.py) says which of its jobs were merely held (put back at the
front of their queue) and which had returned (recorded as finished): only the job it was running is
abandoned, as with stock RQ.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from rqstack.constants import (
    REAPER_LOCK_KEY,
    REAPING_KEY_PREFIX,
    RQ_EXECUTION_KEY_PREFIX,
    RQ_JOB_KEY_PREFIX,
    RQ_QUEUE_KEY_PREFIX,
    RQ_QUEUES_KEY,
    RQ_STARTED_REGISTRY_PREFIX,
    RQ_WORKER_KEY_PREFIX,
    RQ_WORKERS_KEY,
)
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker import callbacks, journal
from rqstack.worker.bookkeeping import (
    ExecRef,
    remove_execution,
    settle_failure,
    settle_requeue,
    still_claimed,
)
from rqstack.worker.claims import after_success, record_successes
from rqstack.worker.enqueue import JOB_NAME_META_KEY

logger = logging.getLogger(__name__)

#: A reaper holds an entry this long at most; if it dies meanwhile, the next pass takes the entry.
REAP_CLAIM_SECONDS = 30.0
#: A worker's key and its jobs' started entries lapse together, give or take a round trip; an entry
#: this long overdue while its worker's key lives is a stray the worker no longer refreshes.
LAPSE_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class ReapedJob:
    """A dead worker's job and what the reaper did with it: ``retrying`` or ``failed`` (abandoned while
    running), ``requeued`` (held, never begun) or ``finished`` (it had returned)."""

    job_id: str
    queue: str
    worker: str
    outcome: str
    error: str


def reap_if_due(
    connection: redis.Redis,
    owner: str,
    interval: float,
    settings: Settings | None = None,
    *,
    restart_grace: float = 0.0,
) -> list[ReapedJob]:
    """Reap unless another process did within ``interval`` seconds (a self-expiring Redis lock)."""
    if not connection.set(REAPER_LOCK_KEY, owner, nx=True, px=max(1, int(interval * 1000))):
        return []
    return reap_abandoned(connection, settings=settings, restart_grace=restart_grace)


def reap_abandoned(
    connection: redis.Redis,
    *,
    now: float | None = None,
    settings: Settings | None = None,
    restart_grace: float = 0.0,
) -> list[ReapedJob]:
    """Retry or fail every started job whose worker stopped heartbeating; what was done, per job.

    Nothing is reaped until Redis has been up ``restart_grace`` seconds (workers pass their heartbeat
    TTL): no worker could heartbeat while it was down, so a missed beat then proves nothing.
    """
    if restart_grace > 0 and int(connection.info("server")["uptime_in_seconds"]) < restart_grace:
        return []
    now_ts = time.time() if now is None else now
    members: set[bytes] = connection.smembers(RQ_QUEUES_KEY)  # type: ignore[assignment]
    queues = sorted(m.decode().removeprefix(RQ_QUEUE_KEY_PREFIX) for m in members)
    if not queues:
        return []
    with connection.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zrange(RQ_STARTED_REGISTRY_PREFIX + queue, 0, -1, withscores=True)
        registries = pipe.execute()
    entries = [
        (queue, member.decode(), score)
        for queue, members in zip(queues, registries, strict=True)
        for member, score in members
        if ":" in member.decode()
    ]
    if not entries:
        return []
    with connection.pipeline(transaction=False) as pipe:
        for _, member, _ in entries:
            pipe.hmget(RQ_EXECUTION_KEY_PREFIX + member, "worker_name", "last_heartbeat")
            # The execution record lapses with its worker: the job hash still names the worker.
            pipe.hget(RQ_JOB_KEY_PREFIX + member.split(":", 1)[0], "worker_name")
        replies = pipe.execute()
    records = [
        ((record[0] or job_worker or b"").decode(), float(record[1]) if record[1] else None)
        for record, job_worker in zip(replies[::2], replies[1::2], strict=True)
    ]
    names = sorted({name for name, _ in records if name})
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(RQ_WORKER_KEY_PREFIX + name)
        alive = {name for name, exists in zip(names, pipe.execute(), strict=True) if exists}
    dead = [name for name in names if name not in alive]
    # Only a dead worker's journal is final: a live one may begin a held job any moment.
    journals = {name: journal.read(connection, name) for name in dead}
    # Latest claim first: held jobs pushed back onto the front of a queue keep their order.
    ordered = sorted(
        zip(entries, records, strict=True),
        key=lambda pair: journal.claim_order(pair[0][1].split(":", 1)[1]),
        reverse=True,
    )
    reaped = []
    for (queue, member, score), (worker_name, last_beat) in ordered:
        if worker_name in alive and score >= now_ts - LAPSE_GRACE_SECONDS:
            continue
        entry = journals.get(worker_name, {}).get(member.split(":", 1)[1])
        with _claimed(connection, queue, member) as mine:
            if not mine:
                continue
            result = _reap_one(connection, queue, member, worker_name, last_beat, settings, entry)
        if result is not None:
            reaped.append(result)
    for name in dead:
        connection.srem(RQ_WORKERS_KEY, RQ_WORKER_KEY_PREFIX + name)
        # An entry another reaper still holds (or held when it died) needs the journal later.
        left = [(queue, member) for (queue, member, _), (worker_name, _) in ordered if worker_name == name]
        if not any(still_claimed(connection, q, m) for q, m in left):
            connection.delete(journal.key(name))
    return reaped


@contextlib.contextmanager
def _claimed(connection: redis.Redis, queue: str, member: str) -> Iterator[bool]:
    """Whether this reaper holds the entry and it is still there; the claim goes when the block ends.

    The claim lapses: a reaper killed halfway leaves the entry to the next pass, never a job left
    "started" with no entry, because every settlement removes the entry in its own transaction.
    """
    claim = REAPING_KEY_PREFIX + queue + ":" + member
    if not connection.set(claim, "1", nx=True, px=int(REAP_CLAIM_SECONDS * 1000)):
        yield False  # another reaper is settling it
        return
    try:
        # Gone: settled meanwhile by the reaper that held the claim before.
        yield still_claimed(connection, queue, member)
    finally:
        connection.delete(claim)


def _reap_one(
    connection: redis.Redis,
    queue: str,
    member: str,
    worker_name: str,
    last_beat: float | None,
    settings: Settings | None,
    entry: journal.Entry | None,
) -> ReapedJob | None:
    job_id, execution_id = member.split(":", 1)
    ref = ExecRef(queue, job_id, execution_id)
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONFirstSerializer)
    except NoSuchJobError:
        with connection.pipeline() as pipe:
            remove_execution(pipe, ref, worker_name)
            pipe.execute()
        return None
    if job.get_status(refresh=False) != "started" or (
        job.worker_name and job.worker_name != worker_name and worker_name
    ):
        # Already finished, or picked up again by another worker: only the stale entry goes.
        with connection.pipeline() as pipe:
            remove_execution(pipe, ref, worker_name)
            pipe.execute()
        return None
    who = worker_name or job.worker_name or "unknown"
    if entry is not None and entry.state == journal.HELD:
        with connection.pipeline() as pipe:
            settle_requeue(pipe, job, ref, worker_name)
            pipe.execute()
        logger.info(
            "job %s was held but not begun by worker %s when it died: back at the front of queue %s",
            job_id,
            who,
            queue,
        )
        return ReapedJob(job_id, queue, who, "requeued", "")
    if entry is not None and entry.state == journal.SUCCEEDED:
        return _record_success(connection, job, ref, who, entry.result, settings)
    since = datetime.fromtimestamp(last_beat, UTC).isoformat() if last_beat else "its start"
    error = (
        f"AbandonedJobError: worker {who} died while running this job (no heartbeat since {since}); "
        "it was killed, ran out of memory or lost its host; the job is retried if it has retries left, "
        "else failed; give it retries (--retry) if it is safe to run again"
    )
    now = datetime.now(UTC)
    started = job.started_at.timestamp() if job.started_at else now.timestamp()
    with connection.pipeline() as pipe:
        outcome = settle_failure(
            pipe, job, ref, worker_name, error, started=started, now=now, worker_alive=False
        )
        pipe.execute()
    logger.warning("job %s on queue %s was abandoned by worker %s: %s", job_id, queue, who, outcome)
    info = callbacks.job_info(
        job_id,
        queue,
        job.meta,
        name=job.meta.get(JOB_NAME_META_KEY),
        worker=who,
        started=job.started_at,
        ended=now,
        error=error,
        retries_left=max(0, (job.retries_left or 0) - 1) if outcome == "retrying" else 0,
    )
    callbacks.emit(connection, settings, "abandoned", info)
    if outcome == "failed":
        callbacks.emit(connection, settings, "failed", info)
    return ReapedJob(job_id, queue, who, outcome, error)


def _record_success(
    connection: redis.Redis, job: Job, ref: ExecRef, worker_name: str, result: str, settings: Settings | None
) -> ReapedJob:
    """Record a job the dead worker ran to its end, as the worker's next claim would have."""
    now = datetime.now(UTC)
    started = job.started_at.timestamp() if job.started_at else now.timestamp()
    released = record_successes(connection, worker_name, [(job, ref, started, result)], now, ttl=0)
    after_success(connection, settings, worker_name, [(job, ref.queue, started)], now, released)
    logger.info(
        "job %s on queue %s had finished when worker %s died: recorded", job.id, ref.queue, worker_name
    )
    return ReapedJob(job.id, ref.queue, worker_name, "finished", "")
