"""rqstack: RQ queues and workers, an exactly-once cron scheduler and a dashboard on Redis."""

from rqstack.worker.jobs.registry import job
from rqstack.worker.progress import report_progress

__all__ = ["job", "report_progress"]
__version__ = "0.1.0"
