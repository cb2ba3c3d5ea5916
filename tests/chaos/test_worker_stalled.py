"""A worker frozen (SIGSTOP, a paused VM) longer than its heartbeat TTL, then woken.

Meanwhile another worker's reaper took it for dead: the jobs it held went back to the queue and ran
elsewhere, the one it was running failed as abandoned. On waking it must run none of the held jobs
again, push none of them back a second time, and its late success must not turn the failed job
finished.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from chaos.conftest import (
    FAST_BEAT,
    FAST_REAP,
    Chaos,
    bulk_enqueue,
    report,
    started_runs,
    statuses,
    text,
    wait_for,
    wait_settled,
)
from chaos.jobs import STARTED_KEY
from rqstack import constants

pytestmark = pytest.mark.timeout(120)

JOBS = 800


@pytest.mark.parametrize("mode", ["in-process", "isolated"])
def test_a_worker_woken_after_the_reaper_took_its_jobs_runs_none_again(chaos: Chaos, mode: str) -> None:
    client = chaos.client()
    ids = [f"stall-{i:04d}" for i in range(JOBS)]
    # Short enough that the worker claims them in batches and holds several at any moment.
    bulk_enqueue(client, "chaos.mark", ids, kwargs={"seconds": 0.004})
    flags = [*FAST_BEAT, *(["--isolated"] if mode == "isolated" else [])]
    frozen = chaos.fleet.start("worker", *flags, env=FAST_REAP)
    wait_for(lambda: client.llen(STARTED_KEY) >= JOBS // 8, 60, "the first worker to work")
    os.kill(frozen.pid, signal.SIGSTOP)
    # Another worker reaps the frozen one once its 1 s TTL lapses, then runs everything left.
    chaos.fleet.start("worker", *flags, env=FAST_REAP)
    before = wait_settled(chaos, ids, 60, "every job to finish or fail while the first worker is frozen")
    os.kill(frozen.pid, signal.SIGCONT)
    # Woken: it re-registers, finds its claims settled and goes idle on the empty queue.
    wait_for(lambda: text(_state(chaos, frozen.pid)) == "idle", 30, "the woken worker to go idle")
    time.sleep(0.5)

    after = statuses(chaos, ids)
    began = started_runs(client)
    failed = sorted(j for j, s in after.items() if s == "failed")
    report(f"worker frozen past its TTL ({mode})", jobs=JOBS, failed=len(failed))
    assert {j: n for j, n in began.items() if n > 1} == {}, "a job ran twice"
    assert after == before, "the woken worker changed an outcome"
    assert len(failed) <= 1, failed  # the job it was running when frozen, if it had begun it
    assert client.llen(constants.RQ_QUEUE_KEY_PREFIX + "default") == 0, "a job was pushed back again"
    assert client.zcard(constants.RQ_STARTED_REGISTRY_PREFIX + "default") == 0
    for job_id in failed:
        assert client.zscore("rq:finished:default", job_id) is None


def _state(chaos: Chaos, pid: int) -> bytes | None:
    client = chaos.client()
    for key in client.smembers(constants.RQ_WORKERS_KEY):
        if client.hget(key, "pid") == str(pid).encode():
            value: bytes | None = client.hget(key, "state")
            return value
    return None
