"""Jobs the chaos tier runs through real workers (RQSTACK_JOBS=chaos.jobs, PYTHONPATH=tests).

Each run leaves its job id in Redis lists, so a test counts executions from the worker's side.
"""

from __future__ import annotations

import time

from rq import get_current_job

from rqstack.worker.jobs.registry import job

#: Job ids, one entry per run that began.
STARTED_KEY = "chaos:started"
#: Job ids, one entry per run that reached its end.
RAN_KEY = "chaos:ran"
#: The message chaos.fail_after raises with.
FAILURE_TEXT = "chaos.fail_after failed on purpose"


@job("chaos.mark", description="Record the job id when it starts and when it ends; sleep in between")
def mark(seconds: float = 0.0) -> float:
    """RPUSH the job id to chaos:started, sleep ``seconds``, RPUSH it to chaos:ran."""
    current = get_current_job()
    assert current is not None, "chaos.mark runs only inside a worker"
    current.connection.rpush(STARTED_KEY, current.id)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.05))
    current.connection.rpush(RAN_KEY, current.id)
    return seconds


@job("chaos.noop", description="Do nothing (load tests: the worker's own bookkeeping is all there is)")
def noop() -> None:
    """Nothing."""


@job("chaos.fail_after", description="Record the start, sleep, then raise (a failure at a chosen moment)")
def fail_after(seconds: float = 0.0) -> None:
    """RPUSH the job id to chaos:started, sleep ``seconds``, raise RuntimeError."""
    current = get_current_job()
    assert current is not None, "chaos.fail_after runs only inside a worker"
    current.connection.rpush(STARTED_KEY, current.id)
    time.sleep(seconds)
    raise RuntimeError(f"{FAILURE_TEXT} after {seconds:.1f}s")
