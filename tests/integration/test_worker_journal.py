"""A dead worker's journal against a real redis-server: what it held goes back, what returned is finished.

The jobs are claimed by the real claim script for a worker whose key does not exist (it died), and
the journal is written as the worker writes it, so the reaper sees what a SIGKILL leaves behind.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis
from rq import Queue
from rq.job import Job, JobStatus

from rqstack.serializer import JSONFirstSerializer
from rqstack.worker import journal
from rqstack.worker.claims import Claimed, Claimer
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.execute import encode_result
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.reaper import reap_abandoned
from rqstack.worker.registration import register_birth

DEAD = "dead-worker"


def claim(connection: redis.Redis, ids: list[str], *, retry: int = 0, worker: str = DEAD) -> list[Claimed]:
    """Queue demo.add(1, 2) under each id and claim them all in one call, as a batch."""
    load_jobs()
    for job_id in ids:
        enqueue(connection, EnqueueRequest("demo.add", args=(1, 2), retry=retry, job_id=job_id))
    claimer = Claimer(connection, worker, ["default"], ttl=0.05)
    claimed, _, _ = claimer.run([], None, len(ids), datetime.now(UTC))
    assert [c.ref.job_id for c in claimed] == ids
    if worker == DEAD:
        connection.delete(f"rq:worker:{DEAD}")  # its key lapsed: the worker is dead
    return claimed


def job(connection: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=connection, serializer=JSONFirstSerializer)


def test_the_claim_marks_each_job_held(connection: redis.Redis) -> None:
    claimed = claim(connection, ["j1", "j2"])
    entries = journal.read(connection, DEAD)
    assert entries == {c.ref.execution_id: journal.Entry(journal.HELD) for c in claimed}
    assert 0 < connection.ttl(journal.key(DEAD)) <= 61


def test_held_jobs_go_back_to_the_front_in_order_returned_finish_begun_fails(connection: redis.Redis) -> None:
    first, second, *held = claim(connection, ["ran", "running", "held-1", "held-2", "held-3"], retry=0)
    connection.rpush("rq:queue:default", "queued-meanwhile")
    journal.write_begun(connection, DEAD, first.ref.execution_id, None)
    journal.write_begun(connection, DEAD, second.ref.execution_id, (first.ref.execution_id, encode_result(3)))
    time.sleep(0.1)  # the entries' heartbeat deadline passes

    outcomes = {r.job_id: r.outcome for r in reap_abandoned(connection)}

    assert outcomes == {
        "ran": "finished",
        "running": "failed",
        "held-1": "requeued",
        "held-2": "requeued",
        "held-3": "requeued",
    }
    assert job(connection, "ran").get_status() == JobStatus.FINISHED
    assert job(connection, "ran").return_value() == 3
    assert connection.zscore("rq:finished:default", "ran") is not None
    assert job(connection, "running").get_status() == JobStatus.FAILED
    queue = connection.lrange("rq:queue:default", 0, -1)
    assert queue == [b"held-1", b"held-2", b"held-3", b"queued-meanwhile"]
    for claimed in held:
        held_job = job(connection, claimed.ref.job_id)
        assert held_job.get_status() == JobStatus.QUEUED
        assert connection.zscore("rq:failed:default", held_job.id) is None
    assert connection.zcard("rq:wip:default") == 0
    assert not connection.exists(journal.key(DEAD))
    assert not connection.exists(f"rq:worker:{DEAD}"), "recording its success brought the dead worker back"
    assert reap_abandoned(connection) == []


def test_a_held_job_keeps_its_retries(connection: redis.Redis) -> None:
    claim(connection, ["keeps"], retry=2)
    time.sleep(0.1)
    [reaped] = reap_abandoned(connection)
    assert reaped.outcome == "requeued"
    assert connection.hget("rq:job:keeps", "retries_left") == b"2"


def test_a_returned_job_releases_its_dependents(connection: redis.Redis) -> None:
    load_jobs()
    queue = Queue("default", connection=connection, serializer=JSONFirstSerializer)
    parent = queue.enqueue("rqstack.worker.jobs.demo.add", 1, 1, job_id="parent")
    child = queue.enqueue("rqstack.worker.jobs.demo.add", 2, 2, depends_on=parent, job_id="child")
    [claimed], _, _ = Claimer(connection, DEAD, ["default"], ttl=0.05).run([], None, 1, datetime.now(UTC))
    assert claimed.ref.job_id == "parent"
    connection.delete(f"rq:worker:{DEAD}")
    journal.write_begun(connection, DEAD, "later", (claimed.ref.execution_id, encode_result(2)))
    time.sleep(0.1)
    [reaped] = reap_abandoned(connection)
    assert reaped.outcome == "finished"
    assert child.get_status(refresh=True) == JobStatus.QUEUED
    assert connection.lrange("rq:queue:default", 0, -1) == [b"child"]


def test_a_live_workers_journal_is_not_trusted(connection: redis.Redis) -> None:
    """A live worker may begin a held job any moment: its overdue entries are abandoned, never requeued."""
    register_birth(connection, "slow-worker", ["default"], 60, "in-process")
    claim(connection, ["stray"], worker="slow-worker")
    assert reap_abandoned(connection, now=time.time() + 5) != []
    assert job(connection, "stray").get_status() == JobStatus.FAILED
    assert connection.lrange("rq:queue:default", 0, -1) == []


def test_the_journal_outlives_an_entry_another_reaper_holds(connection: redis.Redis) -> None:
    """A reaper killed while holding one entry: the next pass, after its claim lapses, still reads it held."""
    from rqstack.constants import REAPING_KEY_PREFIX

    _, second = claim(connection, ["free", "held-elsewhere"])
    connection.set(f"{REAPING_KEY_PREFIX}default:held-elsewhere:{second.ref.execution_id}", "1", px=300)
    time.sleep(0.1)
    assert [r.job_id for r in reap_abandoned(connection)] == ["free"]
    assert connection.exists(journal.key(DEAD))
    time.sleep(0.3)
    [reaped] = reap_abandoned(connection)
    assert (reaped.job_id, reaped.outcome) == ("held-elsewhere", "requeued")
    assert not connection.exists(journal.key(DEAD))


def test_a_success_after_the_reaper_settled_the_job_leaves_its_outcome_alone(connection: redis.Redis) -> None:
    # A worker frozen past its TTL (SIGSTOP, a paused VM): the reaper failed the job it had begun and
    # put back the one it held; when the worker wakes its own job returns and it records the success.
    worker = "stalled-worker"
    register_birth(connection, worker, ["default"], 0.05, "in-process")
    claimer = Claimer(connection, worker, ["default"], ttl=0.05)
    load_jobs()
    for job_id in ("begun", "held"):
        enqueue(connection, EnqueueRequest("demo.add", args=(1, 2), job_id=job_id))
    begun, _ = claimer.run([], None, 2, datetime.now(UTC))[0]
    journal.write_begun(connection, worker, begun.ref.execution_id, None)
    connection.delete(f"rq:worker:{worker}")
    time.sleep(0.1)
    reaped = {r.job_id: r.outcome for r in reap_abandoned(connection)}
    assert reaped == {"begun": "failed", "held": "requeued"}

    claimed, released, stale = claimer.run([(begun, encode_result(3))], None, 0, datetime.now(UTC))

    assert (claimed, released, stale) == ([], set(), {"begun"})
    assert job(connection, "begun").get_status() == JobStatus.FAILED
    assert connection.zscore("rq:finished:default", "begun") is None
    assert connection.zscore("rq:failed:default", "begun") is not None
    # Only the reaper's failure is in its results, no success.
    assert [f[b"type"] for _, f in connection.xrange("rq:results:begun")] == [b"2"]
    assert connection.hget(f"rq:worker:{worker}", "successful_job_count") is None
    assert connection.lrange("rq:queue:default", 0, -1) == [b"held"]
    assert not connection.hexists(journal.key(worker), begun.ref.execution_id)
