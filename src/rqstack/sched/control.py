"""What the CLI and dashboard do to the scheduler: pause, resume, status, and run a schedule now."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis

from rqstack import constants
from rqstack.redis_values import as_text
from rqstack.sched.firing import with_job_id
from rqstack.sched.store import ScheduleStore, runs_key
from rqstack.worker.enqueue import EnqueueResult, enqueue_prepared


def pause_scheduler(connection: redis.Redis) -> None:
    """Stop firing schedules and moving delayed jobs until resumed (the lease is kept)."""
    with connection.pipeline() as pipe:
        pipe.hset(constants.SCHEDULER_STATE_KEY, "paused", "1")
        pipe.publish(constants.SCHEDULER_WAKE_CHANNEL, "pause")
        pipe.execute()


def resume_scheduler(connection: redis.Redis) -> None:
    """Resume after ``pause_scheduler``; fires missed meanwhile follow each schedule's misfire policy."""
    with connection.pipeline() as pipe:
        pipe.hdel(constants.SCHEDULER_STATE_KEY, "paused")
        pipe.publish(constants.SCHEDULER_WAKE_CHANNEL, "resume")
        pipe.execute()


def scheduler_status(connection: redis.Redis, now: datetime | None = None) -> dict[str, Any]:
    """Leader, last tick, lag, pause flag and index sizes, JSON-safe."""
    now = now or datetime.now(UTC)
    with connection.pipeline(transaction=False) as pipe:
        pipe.hgetall(constants.SCHEDULER_STATE_KEY)
        pipe.get(constants.SCHEDULER_LEADER_KEY)
        pipe.pttl(constants.SCHEDULER_LEADER_KEY)
        pipe.zcard(constants.SCHEDULE_DUE_KEY)
        pipe.zrange(constants.SCHEDULE_DUE_KEY, 0, 0, withscores=True)
        pipe.zcard(constants.RQ_SCHEDULER_JOBS_KEY)
        state, leader, ttl, enabled, first, rq_scheduler_jobs = pipe.execute()
    fields = {as_text(k): as_text(v) for k, v in state.items()}
    last_tick = fields.get("last_tick")
    age = None
    if last_tick:
        age = round((now - datetime.fromisoformat(last_tick)).total_seconds(), 3)
    return {
        "leader": None if leader is None else as_text(leader),
        "lease_ttl_ms": ttl if ttl and ttl > 0 else None,
        "paused": fields.get("paused") == "1",
        "last_tick": last_tick,
        "seconds_since_tick": age,
        "lag": float(fields.get("lag", 0.0)),
        "fired_total": int(fields.get("fired_total", 0)),
        "moved_total": int(fields.get("moved_total", 0)),
        "enabled_schedules": enabled,
        "next_fire": datetime.fromtimestamp(first[0][1], UTC).isoformat() if first else None,
        "rq_scheduler_jobs": rq_scheduler_jobs,
    }


def run_now(store: ScheduleStore, name: str, now: datetime | None = None) -> EnqueueResult:
    """Enqueue one run of ``name`` at once (job id ``<name>-run-<unix ms>``), recorded in its history."""
    schedule = store.get(name)
    prepared = schedule.validate()
    now = now or datetime.now(UTC)
    job_id = f"{name}-run-{int(now.timestamp() * 1000)}"
    result = enqueue_prepared(store.connection, with_job_id(prepared, job_id))
    record = {
        "status": "queued",
        "fire_time": now.isoformat(),
        "enqueued_at": now.isoformat(),
        "job_id": job_id,
        "manual": True,
    }
    with store.connection.pipeline() as pipe:
        pipe.lpush(runs_key(name), json.dumps(record))
        pipe.ltrim(runs_key(name), 0, constants.RUN_HISTORY_LIMIT - 1)
        pipe.execute()
    return result
