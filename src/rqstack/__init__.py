"""rqstack: RQ queues and workers, an exactly-once cron scheduler and a dashboard on Redis."""

from rqstack.worker.jobs.registry import job

__all__ = ["job"]
__version__ = "0.1.0"
