"""Start a worker on rqstack's queues, serializer and job registry."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis
from rq import Worker

from rqstack.constants import DEFAULT_QUEUE
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker.enqueue import check_name, make_queue
from rqstack.worker.fast_worker import FastWorker
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.options import WorkerOptions

logger = logging.getLogger(__name__)


def build_worker(connection: redis.Redis, queue_names: Sequence[str], *, name: str | None = None) -> Worker:
    """A stock RQ worker on ``queue_names`` with rqstack's serializer (for tests and tools)."""
    names = _queue_names(queue_names)
    queues = [make_queue(queue_name, connection) for queue_name in names]
    return Worker(queues, connection=connection, serializer=JSONFirstSerializer, name=name)


def build_fast_worker(
    connection: redis.Redis,
    queue_names: Sequence[str],
    *,
    name: str | None = None,
    options: WorkerOptions | None = None,
    settings: Settings | None = None,
) -> FastWorker:
    """rqstack's worker on ``queue_names`` (``default`` when empty), highest priority first."""
    return FastWorker(
        connection,
        _queue_names(queue_names),
        name=name,
        options=options or (WorkerOptions.from_settings(settings) if settings else WorkerOptions()),
        settings=settings,
    )


def run_worker(
    settings: Settings,
    connection: redis.Redis,
    queue_names: Sequence[str],
    *,
    burst: bool = False,
    name: str | None = None,
    options: WorkerOptions | None = None,
) -> bool:
    """Run a worker until SIGTERM (or, with ``burst``, until the queues are empty); True if it ran jobs."""
    load_jobs(settings.job_modules)
    worker = build_fast_worker(connection, queue_names, name=name, options=options, settings=settings)
    return worker.work(burst=burst)


def _queue_names(queue_names: Sequence[str]) -> list[str]:
    names = list(queue_names) or [DEFAULT_QUEUE]
    for queue_name in names:
        check_name(queue_name, "queue")
    return names
