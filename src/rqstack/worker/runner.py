"""Start an RQ worker on rqstack's queues, serializer and job registry."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis
from rq import Worker

from rqstack.constants import DEFAULT_QUEUE
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker.enqueue import check_name, make_queue
from rqstack.worker.jobs.registry import load_jobs

logger = logging.getLogger(__name__)


def build_worker(connection: redis.Redis, queue_names: Sequence[str], *, name: str | None = None) -> Worker:
    """An RQ worker listening on ``queue_names`` (``default`` when empty), in priority order."""
    names = list(queue_names) or [DEFAULT_QUEUE]
    for queue_name in names:
        check_name(queue_name, "queue")
    queues = [make_queue(queue_name, connection) for queue_name in names]
    return Worker(queues, connection=connection, serializer=JSONFirstSerializer, name=name)


def run_worker(
    settings: Settings, connection: redis.Redis, queue_names: Sequence[str], *, burst: bool = False
) -> bool:
    """Run a worker until stopped (or, with ``burst``, until the queues are empty)."""
    load_jobs(settings.job_modules)
    worker = build_worker(connection, queue_names)
    logger.info("worker %s listening on %s", worker.name, ", ".join(worker.queue_names()))
    return bool(worker.work(burst=burst, with_scheduler=False))
