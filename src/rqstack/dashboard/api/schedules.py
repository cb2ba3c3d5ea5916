"""/api/schedules: create, read, replace, patch, delete, run now and run history of named schedules."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from rqstack.constants import NAME_RE, RUN_HISTORY_LIMIT
from rqstack.dashboard.api.base import api, int_arg, json_object
from rqstack.dashboard.context import schedule_store
from rqstack.errors import BadInput, NotFound
from rqstack.sched.control import run_now
from rqstack.sched.cron import describe_cron
from rqstack.sched.model import Schedule
from rqstack.sched.store import StoredSchedule

#: Set by the store, never by a client.
READ_ONLY_FIELDS = frozenset({"created_at", "updated_at"})
#: Fields holding a duration (``"10m"`` or seconds); checked for shape before the model reads them.


def schedule_json(stored: StoredSchedule) -> dict[str, Any]:
    """A schedule as the API shows it: its fields, next/last fire and the cron in words."""
    out = stored.as_dict()
    cron = stored.schedule.cron
    out["cron_description"] = describe_cron(cron) if cron is not None else None
    return out


@api.get("/schedules")
def list_schedules() -> Response:
    """Every schedule, sorted by name."""
    return jsonify({"schedules": [schedule_json(s) for s in schedule_store().list_stored()]})


@api.post("/schedules")
def create_schedule() -> tuple[Response, int]:
    """Create a schedule (owner ``api``); 409 when the name is taken."""
    schedules = schedule_store()
    saved = schedules.create(_schedule_from(json_object(), None))
    response = jsonify(schedule_json(schedules.get_stored(saved.name)))
    response.headers["Location"] = url_for("api.show_schedule", name=saved.name)
    return response, 201


@api.get("/schedules/<name>")
def show_schedule(name: str) -> Response:
    """One schedule."""
    return jsonify(schedule_json(schedule_store().get_stored(_known(name))))


@api.put("/schedules/<name>")
def replace_schedule(name: str) -> tuple[Response, int]:
    """Create or replace a schedule as a whole (idempotent); 201 when it was created."""
    schedules = schedule_store()
    saved, created = schedules.upsert(_schedule_from(json_object(), _known(name)))
    return jsonify(schedule_json(schedules.get_stored(saved.name))), 201 if created else 200


@api.patch("/schedules/<name>")
def patch_schedule(name: str) -> Response:
    """Change some fields; the result is validated as a whole before it is saved."""
    changes = json_object()
    _refuse_read_only(changes)
    schedules = schedule_store()
    saved = schedules.update(_known(name), changes)
    return jsonify(schedule_json(schedules.get_stored(saved.name)))


@api.delete("/schedules/<name>")
def delete_schedule(name: str) -> tuple[str, int]:
    """Remove a schedule and its history."""
    schedule_store().delete(_known(name))
    return "", 204


@api.post("/schedules/<name>/run")
def run_schedule(name: str) -> tuple[Response, int]:
    """Enqueue one run now, outside the timetable; it shows up in the history."""
    result = run_now(schedule_store(), _known(name))
    body = {"id": result.job_id, "queue": result.queue, "status": result.status}
    return jsonify(body), 202


@api.get("/schedules/<name>/runs")
def schedule_runs(name: str) -> Response:
    """Run history, newest first (``?limit=``, at most 200)."""
    schedules = schedule_store()
    schedules.get(_known(name))
    limit = int_arg("limit", 50, 1, RUN_HISTORY_LIMIT)
    return jsonify({"name": name, "runs": schedules.history(name, limit)})


def _schedule_from(data: dict[str, Any], path_name: str | None) -> Schedule:
    _refuse_read_only(data)
    if path_name is not None and data.setdefault("name", path_name) != path_name:
        raise BadInput(
            f"the body names {data['name']!r} but the URL names {path_name!r}; the schedule was not saved",
            field="name",
        )
    data.setdefault("owner", "api")
    return Schedule.from_dict(data, default_timezone=schedule_store().default_timezone)


def _refuse_read_only(data: dict[str, Any]) -> None:
    given = sorted(READ_ONLY_FIELDS & set(data))
    if given:
        raise BadInput(f"field(s) {', '.join(given)} are set by rqstack; leave them out", field=given[0])


def _known(name: str) -> str:
    if not NAME_RE.match(name):
        raise NotFound(f"no schedule named {name!r}; names are 1-128 of A-Z a-z 0-9 _ -", field="name")
    return name
