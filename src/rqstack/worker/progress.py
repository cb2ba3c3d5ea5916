"""Progress reporting from inside a running job, stored in the RQ job's meta."""

from __future__ import annotations

import time
from typing import Any

from rq import get_current_job

from rqstack.constants import PROGRESS_META_KEY


def report_progress(done: float, total: float | None = None, message: str = "") -> None:
    """Record how far the current job is; a no-op when called outside a worker."""
    job = get_current_job()
    if job is None:
        return
    percent = None
    if total:
        percent = max(0.0, min(100.0, 100.0 * done / total))
    job.meta[PROGRESS_META_KEY] = {
        "done": done,
        "total": total,
        "percent": percent,
        "message": message,
        "at": time.time(),
    }
    job.save_meta()


def read_progress(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The progress record in a job's meta, if the job reported one."""
    progress = meta.get(PROGRESS_META_KEY)
    return progress if isinstance(progress, dict) else None
