"""Claim a batch of jobs and finish the previous batch's successes in one Lua round trip.

Per finished job: status, ended_at, an RQ 3 result record, TTLs, the finished registry, the
execution's removal and the unique key's release. Per claimed job: the pop, status started, the
``rq:wip:<queue>`` entry, the execution record and the worker's execution index. The job hashes come
back in the same reply, so a claimed job needs no further read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import redis
from rq.job import Job
from rq.utils import str_to_date

from rqstack import redis_direct
from rqstack.constants import WORKER_JOURNAL_KEY_PREFIX
from rqstack.serializer import blank_job
from rqstack.settings import Settings
from rqstack.worker import callbacks
from rqstack.worker.bookkeeping import RQ_DEFAULT_RESULT_TTL, ExecRef, rq_time
from rqstack.worker.enqueue import JOB_NAME_META_KEY, make_queue
from rqstack.worker.unique import unique_key_of

# ARGV: worker, now_ts, now_str, started_score, exec_ttl, max_claim, exec_prefix, exec_counter,
# n_done, working_time, pre_queue, pre_id, then n_done records of 7 fields, then queue names.
CLAIM_AND_FINISH = (
    """
local worker = ARGV[1]
local now_ts = tonumber(ARGV[2])
local now_str = ARGV[3]
local started_score = ARGV[4]
local exec_ttl = tonumber(ARGV[5])
local max_claim = tonumber(ARGV[6])
local exec_prefix = ARGV[7]
local counter = tonumber(ARGV[8])
local n_done = tonumber(ARGV[9])
local wkey = 'rq:worker:' .. worker
local wexec = wkey .. ':executions'
local journal = '"""
    + WORKER_JOURNAL_KEY_PREFIX
    + """' .. worker
local deps, stale = {}, {}
local recorded = 0
local i = 13
local function record(id, q, ex, st, ret, ttl, uniq)
  local jkey = 'rq:job:' .. id
  local rkey = 'rq:results:' .. id
  recorded = recorded + 1
  redis.call('HSET', jkey, 'status', 'finished', 'ended_at', now_str)
  -- A first-attempt success returning None needs no result record (RQ reads a missing one as None),
  -- which saves the ~4.7 KB a one-entry stream costs; after failed attempts the success is recorded.
  if ret ~= '' then
    redis.call('XADD', rkey, 'MAXLEN', '10', '*', 'type', '1', 'worker_name', worker, 'return_value', ret,
      'execution_id', ex, 'execution_started_at', st, 'execution_ended_at', ARGV[2])
  elseif redis.call('EXISTS', rkey) == 1 then
    redis.call('XADD', rkey, 'MAXLEN', '10', '*', 'type', '1', 'worker_name', worker,
      'execution_id', ex, 'execution_started_at', st, 'execution_ended_at', ARGV[2])
  end
  if ttl > 0 then
    redis.call('EXPIRE', jkey, ttl)
    redis.call('EXPIRE', rkey, ttl)
    redis.call('ZADD', 'rq:finished:' .. q, now_ts + ttl, id)
  elseif ttl == 0 then
    redis.call('DEL', jkey, rkey)
  else
    redis.call('ZADD', 'rq:finished:' .. q, '+inf', id)
  end
  if uniq ~= '' and redis.call('GET', 'rqstack:unique:' .. uniq) == id then
    redis.call('DEL', 'rqstack:unique:' .. uniq)
  end
  if redis.call('EXISTS', jkey .. ':dependents') == 1 then table.insert(deps, id) end
end
for _ = 1, n_done do
  local id, q, ex = ARGV[i], ARGV[i+1], ARGV[i+2]
  local ck = id .. ':' .. ex
  -- Without its started entry the job is no longer this worker's: a reaper took this worker for
  -- dead (frozen past its TTL) and already failed, retried or requeued it. Its outcome stands.
  if redis.call('ZREM', 'rq:wip:' .. q, ck) == 1 then
    record(id, q, ex, ARGV[i+3], ARGV[i+4], tonumber(ARGV[i+5]), ARGV[i+6])
  else
    table.insert(stale, id)
  end
  i = i + 7
  redis.call('DEL', 'rq:execution:' .. ck)
  redis.call('ZREM', 'rq:executions:' .. id, ex)
  redis.call('SREM', wexec, ck)
  redis.call('HDEL', journal, ex)
end
-- A reaper recording a dead worker's successes must not bring its expired hash back.
if recorded > 0 and redis.call('EXISTS', wkey) == 1 then
  redis.call('HINCRBY', wkey, 'successful_job_count', recorded)
  redis.call('HINCRBYFLOAT', wkey, 'total_working_time', ARGV[10])
end
local out = {}
local claimed = 0
local function claim(q, id)
  local jkey = 'rq:job:' .. id
  local fields = redis.call('HGETALL', jkey)
  if #fields == 0 then return end
  local ex = exec_prefix .. (counter + claimed)
  local ck = id .. ':' .. ex
  claimed = claimed + 1
  redis.call('HSET', jkey, 'status', 'started', 'started_at', now_str, 'last_heartbeat', now_str,
    'worker_name', worker)
  redis.call('PERSIST', jkey)
  redis.call('ZADD', 'rq:wip:' .. q, started_score, ck)
  local ekey = 'rq:execution:' .. ck
  redis.call('HSET', ekey, 'id', ex, 'job_id', id, 'created_at', ARGV[2], 'last_heartbeat', ARGV[2],
    'worker_name', worker)
  redis.call('EXPIRE', ekey, exec_ttl)
  redis.call('ZADD', 'rq:executions:' .. id, started_score + 60, ex)
  redis.call('EXPIRE', 'rq:executions:' .. id, exec_ttl + 60)
  redis.call('SADD', wexec, ck)
  redis.call('HSET', journal, ex, 'h')
  table.insert(out, {q, id, ex, fields})
end
if ARGV[12] ~= '' then claim(ARGV[11], ARGV[12]) end
for qi = i, #ARGV do
  local qkey = 'rq:queue:' .. ARGV[qi]
  while claimed < max_claim do
    local id = redis.call('LPOP', qkey)
    if not id then break end
    claim(ARGV[qi], id)
  end
  if claimed > 0 then break end
end
if claimed > 0 then
  redis.call('HSET', wkey, 'state', 'busy')
  redis.call('EXPIRE', wexec, exec_ttl + 60)
  redis.call('EXPIRE', journal, exec_ttl + 60)
end
return {deps, out, stale}
"""
)


class Claimed:
    """A job this worker took from its queue, with its execution id and raw hash.

    The RQ Job is restored from the hash on first use: a batch of claimed jobs then costs its
    first job no more than one restore before it starts.
    """

    __slots__ = ("_job", "_worker_name", "connection", "raw", "ref", "started")

    def __init__(
        self,
        ref: ExecRef,
        raw: dict[bytes, bytes],
        started: float,
        connection: redis.Redis,
        worker_name: str,
    ) -> None:
        self.ref = ref
        self.raw = raw
        self.started = started
        self.connection = connection
        self._worker_name = worker_name
        self._job: Job | None = None

    @property
    def job(self) -> Job:
        """The claimed job as RQ sees it: status started, at ``started``, on this worker."""
        job = self._job
        if job is None:
            # Two threads may both restore it; either copy is the same job.
            job = blank_job(self.ref.job_id, self.connection)
            fields = dict(self.raw)
            # RQ parses these two with strptime, a third of a restore; fromisoformat reads the same text.
            created, enqueued = fields.pop(b"created_at", None), fields.pop(b"enqueued_at", None)
            job.restore(fields)
            if created:
                job.created_at = _utc_time(created)
            if enqueued:
                job.enqueued_at = _utc_time(enqueued)
            job._status = "started"  # type: ignore[assignment]  # the script set it after reading
            job.started_at = datetime.fromtimestamp(self.started, UTC)
            job.worker_name = self._worker_name
            self._job = job
        return job


def _utc_time(raw: bytes) -> datetime:
    """``rq.utils.str_to_date(raw)``: the aware UTC time RQ wrote as ``%Y-%m-%dT%H:%M:%S.%fZ``."""
    try:
        parsed = datetime.fromisoformat(raw.decode())
    except ValueError:
        return str_to_date(raw)
    # Without the Z it is not RQ's format: let RQ's own parser decide (and refuse) as it would.
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else str_to_date(raw)


class Claimer:
    """Runs CLAIM_AND_FINISH for one worker; execution ids are a per-process prefix plus a counter."""

    def __init__(
        self, connection: redis.Redis, worker_name: str, queue_names: Sequence[str], ttl: float
    ) -> None:
        self.connection = connection
        self.worker_name = worker_name
        self.queue_names = list(queue_names)
        self.ttl = ttl
        self._prefix = uuid4().hex[:16]
        self._counter = 0

    def run(
        self, finished: Sequence[tuple[Claimed, str]], pre: tuple[str, str] | None, limit: int, now: datetime
    ) -> tuple[list[Claimed], set[str], set[str]]:
        """Record ``finished`` (job, result) and claim up to ``limit`` jobs.

        Returns (claimed, ids whose dependents to release, ids not recorded because a reaper had
        settled them already).
        """
        done = [(claimed.job, claimed.ref, claimed.started, result) for claimed, result in finished]
        args = _arguments(self.worker_name, now, self.ttl, done, claim=(limit, self._prefix, self._counter))
        args += [pre[0], pre[1]] if pre else ["", ""]
        args += _done_records(done)
        args += self.queue_names
        deps, rows, stale = _SCRIPT(self.connection, args=args)
        self._counter += len(rows)
        now_ts = now.timestamp()
        claimed_jobs = []
        for queue, job_id, execution_id, flat in rows:
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            ref = ExecRef(queue.decode(), job_id.decode(), execution_id.decode())
            claimed_jobs.append(Claimed(ref, fields, now_ts, self.connection, self.worker_name))
        return claimed_jobs, {d.decode() for d in deps}, {d.decode() for d in stale}


Done = tuple[Job, ExecRef, float, str]


def record_successes(
    connection: redis.Redis, worker_name: str, done: Sequence[Done], now: datetime, ttl: float
) -> set[str]:
    """Record jobs of ``worker_name`` that returned (job, execution, start, result) as a claim would.

    For the reaper: a dead worker's successes its journal shows but Redis never recorded. The ids of
    those with dependents come back, to be released.
    """
    args = _arguments(worker_name, now, ttl, done, claim=(0, "", 0))
    args += ["", "", *_done_records(done)]
    deps, _, _ = _SCRIPT(connection, args=args)
    return {d.decode() for d in deps}


def after_success(
    connection: redis.Redis,
    settings: Settings | None,
    worker_name: str,
    done: Sequence[tuple[Job, str, float]],
    now: datetime,
    with_dependents: set[str],
) -> None:
    """What follows recorded successes (job, queue, start): dependents released, succeeded hooks run."""
    for job, queue, started in done:
        if job.id in with_dependents:
            job._status = "finished"  # type: ignore[assignment]
            make_queue(queue, connection).enqueue_dependents(job)
        if callbacks.wants_event("succeeded", job.meta, job.meta.get(JOB_NAME_META_KEY), settings):
            began = datetime.fromtimestamp(started, UTC)
            info = callbacks.info_of(job, queue, worker_name, "succeeded", began, now, None, job.retries_left)
            callbacks.emit(connection, settings, "succeeded", info)


def _arguments(
    worker_name: str, now: datetime, ttl: float, done: Sequence[Done], *, claim: tuple[int, str, int]
) -> list[Any]:
    """ARGV[1..10] of CLAIM_AND_FINISH; ``claim`` is (at most this many, execution id prefix, counter)."""
    now_ts = now.timestamp()
    limit, prefix, counter = claim
    return [
        worker_name,
        repr(now_ts),
        rq_time(now),
        repr(now_ts + ttl),
        int(ttl),
        limit,
        prefix,
        counter,
        len(done),
        repr(sum(now_ts - started for _, _, started, _ in done)),
    ]


def _done_records(done: Sequence[Done]) -> list[Any]:
    args: list[Any] = []
    for job, ref, started, result in done:
        ttl = job.result_ttl if job.result_ttl is not None else RQ_DEFAULT_RESULT_TTL
        unique = unique_key_of(job.meta) or ""
        args += [job.id, ref.queue, ref.execution_id, repr(started), result, ttl, unique]
    return args


_SCRIPT = redis_direct.Script(CLAIM_AND_FINISH)
