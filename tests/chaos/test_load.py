"""100,000 queued jobs, four workers: every job runs exactly once, and Redis memory per job stays flat.

Each run RPUSHes its id when it starts and ends (chaos.mark), so "exactly once" is counted from the
worker side; those two lists are left out of the memory figure.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import redis

from chaos.conftest import Chaos, bulk_enqueue, finished_runs, report, started_runs, wait_for
from chaos.jobs import RAN_KEY, STARTED_KEY
from rqstack import constants

pytestmark = pytest.mark.timeout(300)

FIRST = 10_000
TOTAL = 100_000
WORKERS = 4
#: Redis memory per finished job at 100k may exceed the figure at 10k by at most this factor.
FLAT_FACTOR = 1.5

FINISHED = constants.RQ_FINISHED_REGISTRY_PREFIX + "default"
QUEUE = constants.RQ_QUEUE_KEY_PREFIX + "default"
STARTED = constants.RQ_STARTED_REGISTRY_PREFIX + "default"


def drained(client: redis.Redis, count: int) -> bool:
    """Nothing queued or running, and ``count`` jobs in the finished registry."""
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(QUEUE)
        pipe.zcard(STARTED)
        pipe.zcard(FINISHED)
        queued, running, finished = pipe.execute()
    return bool(queued == 0 and running == 0 and finished >= count)


def used_memory(client: redis.Redis) -> int:
    """Redis's used_memory in bytes."""
    return int(client.info("memory")["used_memory"])


def statuses(client: redis.Redis, ids: list[str], chunk: int = 10_000) -> Counter[str]:
    """How many of ``ids`` are in each RQ status."""
    out: Counter[str] = Counter()
    for start in range(0, len(ids), chunk):
        with client.pipeline(transaction=False) as pipe:
            for job_id in ids[start : start + chunk]:
                pipe.hget(constants.RQ_JOB_KEY_PREFIX + job_id, "status")
            out.update((status or b"missing").decode() for status in pipe.execute())
    return out


def job_memory(client: redis.Redis, baseline: int) -> int:
    """Bytes Redis holds for the jobs: used_memory over the baseline, less the test's own run lists."""
    lists = sum(client.memory_usage(key, samples=0) or 0 for key in (STARTED_KEY, RAN_KEY))
    return used_memory(client) - baseline - lists


def test_100k_jobs_four_workers_no_loss_flat_memory(chaos: Chaos) -> None:
    client = chaos.client()
    ids = [f"load-{index:06d}" for index in range(TOTAL)]
    baseline = used_memory(client)
    bulk_enqueue(client, "chaos.mark", ids[:FIRST])
    began = time.monotonic()
    for _ in range(WORKERS):
        chaos.fleet.start("worker")
    wait_for(lambda: drained(client, FIRST), 120, f"{FIRST} jobs to finish", poll=0.2)
    at_first = job_memory(client, baseline) / FIRST
    bulk_enqueue(client, "chaos.mark", ids[FIRST:])  # while the workers wait for more
    wait_for(lambda: drained(client, TOTAL), 240, f"{TOTAL} jobs to finish", poll=0.2)
    elapsed = time.monotonic() - began
    at_total = job_memory(client, baseline) / TOTAL
    began_runs, ended_runs = started_runs(client), finished_runs(client)
    not_once = {i: (began_runs[i], ended_runs[i]) for i in ids if began_runs[i] != 1 or ended_runs[i] != 1}
    by_status = statuses(client, ids)
    report(
        "load 100k jobs, 4 workers",
        jobs=TOTAL,
        seconds=round(elapsed, 1),
        bytes_per_job_at_10k=round(at_first),
        bytes_per_job_at_100k=round(at_total),
        not_exactly_once=len(not_once),
        statuses=dict(by_status),
    )
    assert not not_once, dict(list(not_once.items())[:20])
    assert by_status == {"finished": TOTAL}
    assert client.zcard(FINISHED) == TOTAL
    assert client.zcard(constants.RQ_FAILED_REGISTRY_PREFIX + "default") == 0
    assert at_total <= FLAT_FACTOR * at_first, (at_first, at_total)
