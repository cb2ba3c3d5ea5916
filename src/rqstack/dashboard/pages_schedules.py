"""Schedule pages: the list, one schedule with its runs and chart, the create/edit form, toggle, run now."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import available_timezones

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from rqstack.constants import NAME_RE
from rqstack.dashboard.charts import duration_chart
from rqstack.dashboard.context import schedule_store, settings
from rqstack.dashboard.forms import form_values, schedule_data
from rqstack.dashboard.views import duration_text, local_time, schedule_row, utc_time
from rqstack.errors import NotFound, RqstackError
from rqstack.sched.control import run_now
from rqstack.sched.firing import upcoming
from rqstack.sched.model import Schedule
from rqstack.worker.jobs.registry import registered_jobs

schedule_pages = Blueprint("schedules", __name__, url_prefix="/schedules")

HISTORY_SHOWN = 50
UPCOMING_SHOWN = 10


@schedule_pages.get("/")
def index() -> str:
    """Every schedule with its timing, next run, last run and switches."""
    store = schedule_store()
    rows = []
    for stored in store.list_stored():
        last = store.history(stored.schedule.name, 1)
        rows.append(schedule_row(stored, last[0] if last else None))
    return render_template("schedules.html", rows=rows)


@schedule_pages.get("/<name>")
def detail(name: str) -> str:
    """Details, the next 10 fire times, run history with a chart."""
    store = schedule_store()
    stored = store.get_stored(_known(name))
    schedule = stored.schedule
    runs = store.history(name, HISTORY_SHOWN)
    fires = upcoming(schedule, datetime.now(UTC), UPCOMING_SHOWN)
    return render_template(
        "schedule.html",
        row=schedule_row(stored, runs[0] if runs else None),
        schedule=schedule,
        fires=[(local_time(f, schedule.timezone), utc_time(f)) for f in fires],
        runs=[{**run, "duration_text": duration_text(run.get("duration"))} for run in runs],
        chart=duration_chart(runs),
        call_text=f"args {json.dumps(list(schedule.args))}, kwargs {json.dumps(dict(schedule.kwargs))}",
    )


# "+" cannot appear in a schedule name, so no schedule can hide this page (a schedule may be named "new").
@schedule_pages.route("/+new", methods=["GET", "POST"])
def create() -> Response | tuple[str, int] | str:
    """The form for a new schedule."""
    if request.method == "POST":
        try:
            schedule = Schedule.from_dict(
                schedule_data(request.form, "api"), default_timezone=settings().timezone
            )
            schedule_store().create(schedule)
        except RqstackError as exc:
            return _form(dict(request.form), exc, editing=None), exc.http_status
        flash(f"Schedule {schedule.name} created.", "ok")
        return redirect(url_for("schedules.detail", name=schedule.name))
    return _form(form_values(None, settings().timezone), None, editing=None)


@schedule_pages.route("/<name>/edit", methods=["GET", "POST"])
def edit(name: str) -> Response | tuple[str, int] | str:
    """The form for an existing schedule; the name stays."""
    store = schedule_store()
    current = store.get(_known(name))
    if request.method == "POST":
        fields = {**request.form, "name": name}
        try:
            data = schedule_data(fields, current.owner)
            schedule = Schedule.from_dict(data, default_timezone=settings().timezone)
            store.upsert(schedule)
        except RqstackError as exc:
            return _form(fields, exc, editing=name), exc.http_status
        flash(f"Schedule {name} saved.", "ok")
        return redirect(url_for("schedules.detail", name=name))
    return _form(form_values(current, settings().timezone), None, editing=name)


@schedule_pages.post("/<name>/toggle")
def toggle(name: str) -> Response:
    """Enable or disable (a disabled schedule keeps its history)."""
    store = schedule_store()
    schedule = store.set_enabled(_known(name), not store.get(name).enabled)
    flash(f"Schedule {name} {'enabled' if schedule.enabled else 'disabled'}.", "ok")
    return redirect(_back(url_for("schedules.index")))


@schedule_pages.post("/<name>/run")
def run(name: str) -> Response:
    """Enqueue one run now."""
    result = run_now(schedule_store(), _known(name))
    flash(f"Schedule {name}: run {result.job_id} queued.", "ok")
    return redirect(_back(url_for("schedules.detail", name=name)))


@schedule_pages.post("/<name>/delete")
def delete(name: str) -> Response:
    """Remove the schedule and its history."""
    schedule_store().delete(_known(name))
    flash(f"Schedule {name} removed.", "ok")
    return redirect(url_for("schedules.index"))


def _form(values: dict[str, str], error: RqstackError | None, editing: str | None) -> str:
    return render_template(
        "schedule_form.html",
        values=values,
        error=error,
        editing=editing,
        jobs=registered_jobs(),
        zones=sorted(available_timezones() - {"localtime", "posixrules"}),
    )


def _known(name: str) -> str:
    if not NAME_RE.match(name):
        raise NotFound(f"no schedule named {name[:80]!r}")
    return name


def _back(default: str) -> str:
    """Where a form posted from: only our own paths (``next`` field), else ``default``."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
