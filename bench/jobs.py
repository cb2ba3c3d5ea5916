"""The jobs every benchmark runs: a no-op that counts itself, and one that records when it started.

Both do exactly one Redis command so the harness can prove every job ran exactly once; the peers'
scripts in bench/peers/ run the same bodies.
"""

from __future__ import annotations

import os
import time
from functools import cache

import redis

import rqstack

#: Hash job number -> how many times it ran (must be 1 for every job).
RUNS_KEY = "bench:runs"
#: List of "<tag> <unix start time> <job id>" lines written by ``record``.
STARTS_KEY = "bench:starts"


@cache
def _client() -> redis.Redis:
    # One client per worker process (redis-py pools are thread-safe), created on first use.
    return redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


@rqstack.job("bench.noop", description="Count one run of job number i (benchmark no-op)")
def noop(i: int) -> None:
    """Count one run of job ``i``."""
    _client().hincrby(RUNS_KEY, str(i), 1)


@rqstack.job("bench.record", description="Record when this job started (benchmark lateness)")
def record(tag: str) -> None:
    """Append ``tag``, the start time and the job id to the starts list."""
    started = time.time()
    job_id = ""
    try:
        from rq import get_current_job

        current = get_current_job()
        job_id = current.id if current is not None else ""
    except Exception:  # a worker without RQ's job context still records the start
        job_id = ""
    _client().rpush(STARTS_KEY, f"{tag} {started:.6f} {job_id}")
