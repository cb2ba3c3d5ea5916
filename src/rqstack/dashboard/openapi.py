"""The OpenAPI 3 document of /api, written next to the routes it describes and tested against them."""

from __future__ import annotations

import copy
from typing import Any

from rqstack import __name__ as package_name
from rqstack.constants import NAME_PATTERN

_NAME = {"type": "string", "pattern": f"^{NAME_PATTERN}$"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_DURATION = {"oneOf": [{"type": "string", "example": "10m"}, {"type": "number", "minimum": 0}]}
_INTERVALS = {"oneOf": [{"type": "string", "example": "30s,2m"}, {"type": "array", "items": _DURATION}]}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null: the API reads null as "not given" for optional fields."""
    return {"anyOf": [schema, {"type": "null"}]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in sorted({*statuses, 401, 403, 429, 503})}


def _op(summary: str, responses: dict[str, Any], errors: tuple[int, ...], **extra: Any) -> dict[str, Any]:
    merged = {**responses, **_errors(*errors)}
    return {"summary": summary, "responses": merged, **extra}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_WRITE_ERRORS = (400, 413, 415, 422)
_NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": _NAME}
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": _NAME}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
    },
    "EnqueueRequest": {
        "type": "object",
        "required": ["job"],
        "additionalProperties": False,
        "properties": {
            "job": {"type": "string", "description": "A registered job name (GET /api/jobs/registered)"},
            "args": {"type": "array"},
            "kwargs": {"type": "object"},
            "queue": _nullable(_NAME),
            "in": _nullable(_DURATION),
            "at": _nullable(_TIME),
            "timeout": _nullable(_DURATION),
            "retry": _nullable({"type": "integer", "minimum": 0, "maximum": 100}),
            "retry_interval": _nullable(_INTERVALS),
            "id": _nullable(_NAME),
            "unique": {"type": "boolean"},
            "unique_key": _nullable({"type": "string", "minLength": 1, "maxLength": 512}),
        },
    },
    "Enqueued": {
        "type": "object",
        "required": ["id", "queue", "status", "due"],
        "properties": {
            "id": _NAME,
            "queue": _NAME,
            "status": {"type": "string"},
            "due": _NULLABLE_TIME,
            "existing": {"type": "boolean"},
        },
    },
    "Job": {
        "type": "object",
        "required": ["id", "status", "queue", "progress", "result", "error"],
        "properties": {
            "id": _NAME,
            "job": {"type": ["string", "null"]},
            "queue": {"type": ["string", "null"]},
            "status": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "created_at": _NULLABLE_TIME,
            "enqueued_at": _NULLABLE_TIME,
            "started_at": _NULLABLE_TIME,
            "ended_at": _NULLABLE_TIME,
            "progress": {"type": ["object", "null"]},
            "result": {},
            "error": {"type": ["string", "null"]},
        },
    },
    "ScheduleInput": {
        "type": "object",
        "required": ["name", "job"],
        "properties": {
            "name": _NAME,
            "job": {"type": "string"},
            "cron": {"type": ["string", "null"], "example": "0 3 * * *"},
            "every": {"oneOf": [_DURATION, {"type": "null"}]},
            "timezone": {"type": ["string", "null"], "example": "Asia/Seoul"},
            "args": {"type": ["array", "null"]},
            "kwargs": {"type": ["object", "null"]},
            "queue": {"type": ["string", "null"]},
            "timeout": {"oneOf": [_DURATION, {"type": "null"}]},
            "retry": {"type": ["integer", "null"]},
            "retry_interval": {},
            "enabled": {"type": "boolean"},
            "misfire": {"enum": ["skip", "once", "all", None]},
            "misfire_grace": _nullable(_DURATION),
            "overlap": {"enum": ["allow", "skip", None]},
            "description": {"type": ["string", "null"], "maxLength": 500},
            "owner": {"type": ["string", "null"]},
        },
    },
    "Schedule": {
        "type": "object",
        "required": ["name", "job", "cron", "every", "timezone", "enabled", "next_fire", "cron_description"],
        "properties": {
            "name": _NAME,
            "job": {"type": "string"},
            "cron": {"type": ["string", "null"]},
            "every": {"type": ["number", "null"]},
            "timezone": {"type": "string"},
            "enabled": {"type": "boolean"},
            "description": {"type": "string"},
            "owner": {"type": "string"},
            "next_fire": _NULLABLE_TIME,
            "last_fire": {"type": ["string", "null"]},
            "last_job_id": {"type": ["string", "null"]},
            "cron_description": {"type": ["string", "null"]},
            "created_at": _NULLABLE_TIME,
            "updated_at": _NULLABLE_TIME,
        },
    },
    "Run": {
        "type": "object",
        "properties": {
            "job_id": {"type": "string"},
            "status": {"type": "string"},
            "fire_time": {"type": "string"},
            "duration": {"type": ["number", "null"]},
        },
    },
    "Scheduler": {
        "type": "object",
        "required": ["leader", "paused", "last_tick", "lag"],
        "properties": {
            "leader": {"type": ["string", "null"]},
            "paused": {"type": "boolean"},
            "last_tick": {"type": ["string", "null"]},
            "seconds_since_tick": {"type": ["number", "null"]},
            "lag": {"type": "number"},
            "next_fire": _NULLABLE_TIME,
        },
    },
}


def _error_responses() -> dict[str, Any]:
    out = {}
    for status, words in {
        400: "Malformed request (not JSON, wrong shape)",
        401: "Missing or wrong bearer token",
        403: "Cross-origin request or missing CSRF token",
        404: "No such resource",
        409: "Conflicts with the current state",
        413: "Body larger than 1 MiB",
        415: "Body is not application/json",
        422: "Invalid values; nothing was written",
        429: "Too many wrong tokens from this address; wait a minute",
        503: "Redis does not answer",
    }.items():
        out[f"E{status}"] = _json(_ref("Error"), words)
    return out


def _paths() -> dict[str, Any]:
    schedule = _json(_ref("Schedule"), "The schedule")
    scheduler = _json(_ref("Scheduler"), "Scheduler state")
    return {
        "/api/health": {
            "get": {
                "summary": "200 when Redis answers (no auth)",
                "security": [],
                "responses": {
                    "200": _json({"type": "object", "required": ["status"]}, "Redis answers"),
                    "503": {"$ref": "#/components/responses/E503"},
                },
            }
        },
        "/api/status": {
            "get": _op("Queues, workers, scheduler", {"200": _json({"type": "object"}, "Status")}, ())
        },
        "/api/jobs/registered": {
            "get": _op(
                "Registered jobs", {"200": _json({"type": "object", "required": ["jobs"]}, "Jobs")}, ()
            )
        },
        "/api/jobs": {
            "post": _op(
                "Enqueue one job, or a list of jobs (all-or-nothing)",
                {
                    "200": _json(_ref("Enqueued"), "A unique job with that key is already queued or running"),
                    "201": {
                        "description": "Queued",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        _ref("Enqueued"),
                                        {
                                            "type": "object",
                                            "required": ["ids"],
                                            "properties": {"ids": {"type": "array", "items": _NAME}},
                                        },
                                    ]
                                }
                            }
                        },
                    },
                },
                (*_WRITE_ERRORS, 409),
                requestBody=_body(
                    {
                        "oneOf": [
                            _ref("EnqueueRequest"),
                            {
                                "type": "array",
                                "items": _ref("EnqueueRequest"),
                                "minItems": 1,
                                "maxItems": 1000,
                            },
                        ]
                    }
                ),
            )
        },
        "/api/jobs/{id}": {
            "get": _op(
                "A job's status, progress, result or error", {"200": _json(_ref("Job"), "The job")}, (404,)
            ),
            "parameters": [_ID_PARAM],
        },
        "/api/jobs/{id}/cancel": {
            "post": _op(
                "Cancel a queued job or stop a running one",
                {"200": _json({"type": "object", "required": ["id", "status"]}, "Canceled or stopping")},
                (404, 409),
            ),
            "parameters": [_ID_PARAM],
        },
        "/api/schedules": {
            "get": _op(
                "Every schedule",
                {"200": _json({"type": "object", "required": ["schedules"]}, "Schedules")},
                (),
            ),
            "post": _op(
                "Create a schedule",
                {"201": _json(_ref("Schedule"), "Created")},
                (*_WRITE_ERRORS, 409),
                requestBody=_body(_ref("ScheduleInput")),
            ),
        },
        "/api/schedules/{name}": {
            "parameters": [_NAME_PARAM],
            "get": _op("One schedule", {"200": schedule}, (404,)),
            "put": _op(
                "Create or replace a schedule",
                {"200": schedule, "201": _json(_ref("Schedule"), "Created")},
                (*_WRITE_ERRORS, 404),
                requestBody=_body(_ref("ScheduleInput")),
            ),
            "patch": _op(
                "Change some fields",
                {"200": schedule},
                (*_WRITE_ERRORS, 404),
                requestBody=_body({"type": "object"}),
            ),
            "delete": _op("Remove a schedule and its history", {"204": {"description": "Removed"}}, (404,)),
        },
        "/api/schedules/{name}/run": {
            "parameters": [_NAME_PARAM],
            "post": _op(
                "Enqueue one run now",
                {"202": _json({"type": "object", "required": ["id"]}, "Queued")},
                (404, 422),
            ),
        },
        "/api/schedules/{name}/runs": {
            "parameters": [_NAME_PARAM],
            "get": _op(
                "Run history, newest first",
                {"200": _json({"type": "object", "required": ["runs"]}, "Runs")},
                (404, 422),
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                    }
                ],
            ),
        },
        "/api/cron/next": {
            "get": _op(
                "Preview the next fire times of a cron expression in a zone",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["expr", "timezone", "description", "times", "local"],
                            "properties": {
                                "times": {"type": "array", "items": _TIME},
                                "local": {"type": "array", "items": _TIME},
                            },
                        },
                        "Fire times (UTC and local)",
                    )
                },
                (422,),
                parameters=[
                    {"name": "expr", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "tz", "in": "query", "schema": {"type": "string"}},
                    {"name": "n", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}},
                    {"name": "from", "in": "query", "schema": _TIME},
                ],
            )
        },
        "/api/scheduler": {"get": _op("Scheduler leader, last tick, lag, paused", {"200": scheduler}, ())},
        "/api/scheduler/pause": {"post": _op("Pause firing", {"200": scheduler}, ())},
        "/api/scheduler/resume": {"post": _op("Resume firing", {"200": scheduler}, ())},
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
    }


def openapi_document(job_names: list[str] | None = None) -> dict[str, Any]:
    """The whole document (OpenAPI 3.1); ``job_names`` become the enum of the ``job`` fields."""
    from importlib.metadata import version

    schemas = copy.deepcopy(_SCHEMAS)
    if job_names:
        for name in ("EnqueueRequest", "ScheduleInput"):
            schemas[name]["properties"]["job"] = {"type": "string", "enum": sorted(job_names)}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rqstack API",
            "version": version(package_name),
            "description": "Jobs, schedules and the scheduler of rqstack. Errors are "
            '{"error": {"code", "message", "field"}}; nothing is written on bad input.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "responses": _error_responses(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
