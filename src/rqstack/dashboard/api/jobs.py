"""/api/jobs: registered jobs, enqueue one or many (all-or-nothing), show and cancel by id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, url_for
from rq.job import Job

from rqstack.constants import NAME_RE
from rqstack.dashboard.api.base import api, json_body, parse_time
from rqstack.dashboard.context import connection
from rqstack.dashboard.http_errors import Conflict, MalformedRequest
from rqstack.durations import parse_duration
from rqstack.errors import AlreadyExists, BadInput, NotFound, RqstackError
from rqstack.worker.enqueue import (
    EnqueueRequest,
    PreparedJob,
    enqueue_many_prepared,
    enqueue_prepared,
    prepare,
)
from rqstack.worker.inspect import cancel_job, job_details
from rqstack.worker.jobs.registry import registered_jobs

#: Most jobs one bulk request may enqueue.
MAX_BULK = 1000
ENQUEUE_FIELDS = frozenset(
    {
        "job",
        "args",
        "kwargs",
        "queue",
        "in",
        "at",
        "timeout",
        "retry",
        "retry_interval",
        "id",
        "unique",
        "unique_key",
    }
)


@api.get("/jobs/registered")
def registered() -> Response:
    """Every job name that can be enqueued, with its parameters and defaults."""
    return jsonify({"jobs": [definition.as_dict() for definition in registered_jobs()]})


@api.post("/jobs")
def create_jobs() -> tuple[Response, int] | Response:
    """Enqueue one job (an object) or many (a list); every item is checked before anything is written."""
    body = json_body()
    if isinstance(body, dict):
        prepared = _prepare_item(body, prefix="")
        _refuse_taken_ids([prepared])
        result = enqueue_prepared(connection(), prepared)
        response = jsonify(
            {
                "id": result.job_id,
                "queue": result.queue,
                "status": result.status,
                "due": None if result.due is None else result.due.isoformat(),
                "existing": result.existing,
            }
        )
        response.headers["Location"] = url_for("api.show_job", job_id=result.job_id)
        # A unique job already queued or running is answered, not duplicated: 200 with its id.
        return response, 200 if result.existing else 201
    if not isinstance(body, list):
        raise MalformedRequest("the body must be a job object or a list of them; nothing was queued")
    if not 1 <= len(body) <= MAX_BULK:
        raise BadInput(f"a bulk request holds 1 to {MAX_BULK} jobs, got {len(body)}; nothing was queued")
    batch = [_prepare_item(item, prefix=f"[{index}].") for index, item in enumerate(body)]
    _refuse_taken_ids(batch)
    ids = [result.job_id for result in enqueue_many_prepared(connection(), batch)]
    return jsonify({"ids": ids}), 201


@api.get("/jobs/<job_id>")
def show_job(job_id: str) -> Response:
    """Status, progress, timestamps, result or error of one job."""
    _known_id(job_id)
    return jsonify(job_details(connection(), job_id))


@api.post("/jobs/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    """Cancel a queued or scheduled job, or stop a running one."""
    _known_id(job_id)
    status = cancel_job(connection(), job_id)
    if status not in ("canceled", "stopping"):
        raise Conflict(f"job {job_id!r} is already {status}; there is nothing to cancel", field="id")
    return jsonify({"id": job_id, "status": status})


def enqueue_request(data: Mapping[str, Any]) -> EnqueueRequest:
    """An EnqueueRequest from API JSON; BadInput naming the field when a value has the wrong shape."""
    unknown = sorted(set(data) - ENQUEUE_FIELDS)
    if unknown:
        raise BadInput(
            f"unknown field(s) {', '.join(unknown)}; nothing was queued; "
            f"allowed: {', '.join(sorted(ENQUEUE_FIELDS))}",
            field=unknown[0],
        )
    name = data.get("job")
    if not isinstance(name, str) or not name:
        raise BadInput("field 'job' (a registered job name) is required; nothing was queued", field="job")
    args = data.get("args", [])
    if not isinstance(args, list):
        raise BadInput("args must be a JSON array; nothing was queued", field="args")
    kwargs = data.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise BadInput("kwargs must be a JSON object; nothing was queued", field="kwargs")
    return EnqueueRequest(
        job=name,
        args=args,
        kwargs=kwargs,
        queue=_optional_text(data, "queue"),
        at=None if data.get("at") is None else parse_time(_text(data, "at"), "at"),
        delay=_duration(data, "in", allow_zero=True),
        timeout=_duration(data, "timeout"),
        retry=_optional_int(data, "retry"),
        retry_intervals=data.get("retry_interval"),
        job_id=_optional_text(data, "id"),
        unique=_optional_bool(data, "unique"),
        unique_key=_optional_text(data, "unique_key"),
    )


def _prepare_item(item: Any, prefix: str) -> PreparedJob:
    if not isinstance(item, dict):
        raise BadInput(
            f"job {prefix or 'item'} must be a JSON object; nothing was queued", field=prefix or None
        )
    try:
        return prepare(enqueue_request(item))
    except RqstackError as exc:
        if not prefix:
            raise
        error = type(exc)(
            f"job {prefix.rstrip('.')}: {exc.message}", field=f"{prefix}{exc.field or ''}".rstrip(".")
        )
        raise error from None


def _refuse_taken_ids(batch: list[PreparedJob]) -> None:
    ids = [p.job_id for p in batch if p.job_id is not None]
    if len(set(ids)) != len(ids):
        raise BadInput("the same job id appears twice in the request; nothing was queued", field="id")
    for job_id in ids:
        if Job.exists(job_id, connection=connection()):
            raise AlreadyExists(
                f"job {job_id!r} already exists; nothing was queued; pick another id", field="id"
            )


def _known_id(job_id: str) -> None:
    if not NAME_RE.match(job_id):
        raise NotFound(f"job {job_id!r} does not exist; job ids are 1-128 of A-Z a-z 0-9 _ -", field="id")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise BadInput(f"{key} must be text, got {value!r}; nothing was queued", field=key)
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else _text(data, key)


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{key} must be a whole number, got {value!r}; nothing was queued", field=key)
    return value


def _optional_bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise BadInput(f"{key} must be true or false, got {value!r}; nothing was queued", field=key)
    return value


def _duration(data: Mapping[str, Any], key: str, *, allow_zero: bool = False) -> float | None:
    value = data.get(key)
    return None if value is None else parse_duration(value, field=key, allow_zero=allow_zero)
