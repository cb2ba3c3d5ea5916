"""Progress reporting from inside a running job, stored in the RQ job's meta."""

from __future__ import annotations

import time
from typing import Any

from rq import get_current_job

from rqstack.constants import PROGRESS_META_KEY

#: Progress writes of one job are at most this frequent (the last, complete one is always written).
MIN_INTERVAL_SECONDS = 0.25
_last_write: dict[str, float] = {}


def report_progress(done: float, total: float | None = None, message: str = "") -> None:
    """Record how far the current job is (one HSET, throttled); a no-op when called outside a worker."""
    job = get_current_job()
    if job is None:
        return
    now = time.monotonic()
    finished = total is not None and done >= total
    last = _last_write.get(job.id)
    if last is not None and now - last < MIN_INTERVAL_SECONDS and not finished:
        return
    if len(_last_write) > 1000:
        _last_write.clear()
    _last_write[job.id] = now
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
