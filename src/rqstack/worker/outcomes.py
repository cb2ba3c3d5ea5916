"""Recording a job that did not succeed: failed (retried or in the failed registry), canceled, or put back.

Successes go in batches through the claim script (claims.py); these are rare and each gets its own
transaction, retried while Redis is away so an outcome is never lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from redis.client import Pipeline

from rqstack.settings import Settings
from rqstack.worker import callbacks
from rqstack.worker.bookkeeping import settle_canceled, settle_failure, settle_requeue
from rqstack.worker.claims import Claimed
from rqstack.worker.execute import Outcome

logger = logging.getLogger(__name__)


def record(
    connection: redis.Redis,
    worker_name: str,
    claimed: Claimed,
    outcome: Outcome,
    *,
    canceled: bool,
    now: datetime,
    give_up: Callable[[], bool],
) -> str | None:
    """Write ``outcome`` of ``claimed``; the event it makes (``failed``, ``retrying``, ``canceled``), or
    None when the job went back to the front of its queue. Retries while Redis is away until
    ``give_up()`` says the worker is being forced to stop.
    """
    job, ref = claimed.job, claimed.ref

    def write(pipe: Pipeline) -> str | None:
        if outcome.kind == "requeue":
            settle_requeue(pipe, job, ref, worker_name)
            return None
        if canceled:
            settle_canceled(pipe, job, ref, worker_name, started=claimed.started, now=now)
            return "canceled"
        return settle_failure(
            pipe,
            job,
            ref,
            worker_name,
            outcome.exc_string,
            started=claimed.started,
            now=now,
            retryable=outcome.retryable,
        )

    delay = 0.5
    while True:
        try:
            with connection.pipeline() as pipe:
                event = write(pipe)
                pipe.execute()
            return event
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if give_up():
                raise
            logger.warning(
                "worker %s could not record the outcome of job %s (%s); retrying in %ss",
                worker_name,
                job.id,
                exc,
                delay,
            )
            time.sleep(delay)
            delay = min(5.0, delay * 2)


def emit(
    connection: redis.Redis,
    settings: Settings | None,
    worker_name: str,
    event: str,
    claimed: Claimed,
    now: datetime,
    error: str | None,
    retries_left: int | None,
) -> None:
    """Run the alert hooks and callbacks subscribed to ``event`` for ``claimed``."""
    started = datetime.fromtimestamp(claimed.started, UTC)
    info = callbacks.info_of(
        claimed.job, claimed.ref.queue, worker_name, event, started, now, error, retries_left
    )
    callbacks.emit(connection, settings, event, info)
