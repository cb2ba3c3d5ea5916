"""The reaper against a real redis-server: entries of dead workers are retried or failed, once."""

from __future__ import annotations

import time

import redis
from rq.job import Job, JobStatus

from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.reaper import reap_abandoned, reap_if_due
from servers import RedisServer


def started_by_dead_worker(connection: redis.Redis, retry: int, job_id: str, beat_age: float = 30) -> None:
    """A job left in rq:wip by a worker whose key and execution record have expired."""
    load_jobs()
    enqueue(connection, EnqueueRequest("demo.sleep", retry=retry, job_id=job_id))
    connection.lrem("rq:queue:default", 0, job_id)
    connection.hset(f"rq:job:{job_id}", mapping={"status": "started", "worker_name": "gone"})
    connection.zadd("rq:wip:default", {f"{job_id}:exec1": time.time() - beat_age})


def status(connection: redis.Redis, job_id: str) -> JobStatus:
    return Job.fetch(job_id, connection=connection, serializer=JSONFirstSerializer).get_status()


def test_abandoned_job_with_retries_goes_back_to_its_queue(connection: redis.Redis) -> None:
    started_by_dead_worker(connection, retry=2, job_id="again")
    [reaped] = reap_abandoned(connection)
    assert reaped.outcome == "retrying"
    assert status(connection, "again") == JobStatus.QUEUED
    assert connection.lrange("rq:queue:default", 0, -1) == [b"again"]
    assert connection.hget("rq:job:again", "retries_left") == b"1"
    assert connection.zcard("rq:wip:default") == 0


def test_abandoned_job_without_retries_fails_naming_the_worker(connection: redis.Redis) -> None:
    started_by_dead_worker(connection, retry=0, job_id="lost")
    [reaped] = reap_abandoned(connection)
    assert reaped.outcome == "failed"
    assert "worker gone died while running this job (no heartbeat since" in reaped.error
    assert status(connection, "lost") == JobStatus.FAILED
    assert connection.zscore("rq:failed:default", "lost") is not None
    assert reap_abandoned(connection) == []  # handled once


def test_live_entries_are_left_alone(connection: redis.Redis) -> None:
    started_by_dead_worker(connection, retry=0, job_id="alive", beat_age=-30)
    connection.hset("rq:execution:alive:exec1", "worker_name", "busy-worker")
    connection.set("rq:worker:busy-worker", "x")
    assert reap_abandoned(connection) == []
    assert status(connection, "alive") == JobStatus.STARTED


def test_only_one_reaper_runs_per_interval(connection: redis.Redis) -> None:
    started_by_dead_worker(connection, retry=0, job_id="once")
    assert len(reap_if_due(connection, "worker-a", 60)) == 1
    started_by_dead_worker(connection, retry=0, job_id="twice")
    assert reap_if_due(connection, "worker-b", 60) == []


def test_nothing_is_reaped_right_after_redis_restarts(own_redis: RedisServer) -> None:
    """Nobody could heartbeat while Redis was down: stale entries prove nothing until the TTL passed."""
    connection = own_redis.client()
    started_by_dead_worker(connection, retry=0, job_id="survivor")
    own_redis.stop()
    own_redis.start()  # AOF brings the entry back; the server's uptime starts again at 0
    assert reap_abandoned(connection, restart_grace=20) == []
    assert status(connection, "survivor") == JobStatus.STARTED
    [reaped] = reap_abandoned(connection, restart_grace=0)
    assert reaped.job_id == "survivor"


def test_a_heartbeat_after_an_outage_rewrites_what_expired(connection: redis.Redis) -> None:
    from rqstack.worker.bookkeeping import ExecRef
    from rqstack.worker.registration import heartbeat

    ref = ExecRef("default", "job1", "exec1")
    assert heartbeat(connection, "w1", 20, [ref]) is False  # the worker key had expired
    record = connection.hgetall("rq:execution:job1:exec1")
    assert record[b"worker_name"] == b"w1" and record[b"job_id"] == b"job1"


def test_a_worker_key_recreated_by_its_state_writes_counts_as_expired(connection: redis.Redis) -> None:
    """After a long outage the worker's idle/busy marks recreate its key with `state` alone, no TTL."""
    from rqstack.worker.registration import heartbeat, register_birth

    register_birth(connection, "w1", ["default"], 20, "in-process")
    connection.delete("rq:worker:w1")
    connection.hset("rq:worker:w1", "state", "idle")  # what the idle mark writes on a lapsed key
    assert heartbeat(connection, "w1", 20, []) is False
    register_birth(connection, "w1", ["default"], 20, "in-process", again=True)  # its own remains
    assert connection.hexists("rq:worker:w1", "birth")
    assert connection.hget("rq:worker:w1", "queues") == b"default"
    assert 0 < connection.pttl("rq:worker:w1") <= 20_000
    assert heartbeat(connection, "w1", 20, []) is True


def test_an_entry_whose_reaper_died_halfway_is_reaped_when_its_claim_lapses(connection: redis.Redis) -> None:
    from rqstack.constants import REAPING_KEY_PREFIX

    started_by_dead_worker(connection, retry=0, job_id="halfway")
    connection.set(f"{REAPING_KEY_PREFIX}default:halfway:exec1", "1", px=300)  # its reaper was killed
    assert reap_abandoned(connection) == []
    assert connection.zscore("rq:wip:default", "halfway:exec1") is not None, "the job would stay started"
    time.sleep(0.4)
    [reaped] = reap_abandoned(connection)
    assert reaped.job_id == "halfway" and status(connection, "halfway") == JobStatus.FAILED
    assert not connection.keys(f"{REAPING_KEY_PREFIX}*")
