"""A snapshot of the whole stack (Redis, queues, workers, scheduler) for the CLI, API and metrics."""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from rqstack.connection import redact, redis_url
from rqstack.constants import SCHEDULER_STATE_KEY
from rqstack.redis_values import as_text
from rqstack.settings import Settings


def stack_status(connection: redis.Redis, settings: Settings) -> dict[str, Any]:
    """JSON-safe status of Redis, every queue, every worker and the scheduler."""
    info = connection.info()
    queues = []
    for queue in sorted(Queue.all(connection=connection), key=lambda q: q.name):
        queues.append(
            {
                "name": queue.name,
                "queued": queue.count,
                "started": StartedJobRegistry(queue=queue).count,
                "scheduled": ScheduledJobRegistry(queue=queue).count,
                "failed": FailedJobRegistry(queue=queue).count,
                "finished": FinishedJobRegistry(queue=queue).count,
            }
        )
    workers = [
        {
            "name": worker.name,
            "state": str(worker.get_state()),
            "queues": worker.queue_names(),
            "current_job": worker.get_current_job_id(),
            "successful": worker.successful_job_count,
            "failed": worker.failed_job_count,
        }
        for worker in Worker.all(connection=connection)
    ]
    scheduler = {
        as_text(key): as_text(value) for key, value in connection.hgetall(SCHEDULER_STATE_KEY).items()
    }
    return {
        "redis": {
            "url": redact(redis_url(settings, start_embedded=False)),
            "version": info.get("redis_version"),
            "used_memory": info.get("used_memory_human"),
            "embedded": settings.redis_url is None,
        },
        "queues": queues,
        "workers": workers,
        "scheduler": scheduler,
    }
