"""HTML pages: the overview, the scheduler's state with pause/resume, and one job with its progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from rqstack.constants import NAME_RE
from rqstack.dashboard.context import connection, schedule_store, settings
from rqstack.dashboard.views import recent_failures, schedule_row
from rqstack.errors import NotFound
from rqstack.sched.control import pause_scheduler, resume_scheduler, scheduler_status
from rqstack.status import stack_status
from rqstack.worker.inspect import cancel_job, job_details

pages = Blueprint("pages", __name__)


@pages.get("/")
def overview() -> str:
    """Queue depth, workers, the scheduler and failures of the last 24 hours."""
    status = stack_status(connection(), settings())
    store = schedule_store()
    stored = store.list_stored()
    upcoming = sorted(
        (s for s in stored if s.next_fire is not None), key=lambda s: s.next_fire or datetime.max
    )
    rows = [schedule_row(s, None) for s in upcoming[:5]]
    return render_template(
        "overview.html",
        status=status,
        scheduler=scheduler_status(connection()),
        failures=recent_failures(connection(), datetime.now(UTC)),
        upcoming=rows,
        schedule_count=len(stored),
        enabled_count=sum(1 for s in stored if s.schedule.enabled),
    )


@pages.get("/scheduler")
def scheduler_page() -> str:
    """Leader, last tick, lag and the pause switch."""
    return render_template("scheduler.html", state=scheduler_status(connection()))


@pages.post("/scheduler/pause")
def pause() -> Response:
    """Pause firing (form)."""
    pause_scheduler(connection())
    flash("Scheduler paused: no schedule fires and no delayed job moves until you resume.", "ok")
    return redirect(url_for("pages.scheduler_page"))


@pages.post("/scheduler/resume")
def resume() -> Response:
    """Resume firing (form)."""
    resume_scheduler(connection())
    flash("Scheduler resumed.", "ok")
    return redirect(url_for("pages.scheduler_page"))


@pages.get("/jobs/<job_id>")
def job_page(job_id: str) -> str:
    """One job: status, progress bar that updates itself, result or error, cancel."""
    details = _details(job_id)
    result = details["result"]
    result_text = "—" if result is None else json.dumps(result, indent=2)
    return render_template("job.html", job=details, final=_is_final(details), result_text=result_text)


@pages.post("/jobs/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    """Cancel a job from its page (form fallback when scripts are off)."""
    _details(job_id)
    status = cancel_job(connection(), job_id)
    flash(f"Job {job_id}: {status}.", "ok")
    return redirect(url_for("pages.job_page", job_id=job_id))


def _details(job_id: str) -> dict[str, Any]:
    if not NAME_RE.match(job_id):
        raise NotFound(f"job {job_id[:80]!r} does not exist")
    return job_details(connection(), job_id)


def _is_final(details: dict[str, Any]) -> bool:
    return details["status"] in ("finished", "failed", "canceled", "stopped")
