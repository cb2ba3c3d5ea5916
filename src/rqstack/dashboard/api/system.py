"""/api/health, /api/status, /api/cron/next, /api/scheduler (pause, resume) and /api/openapi.json."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from flask import Response, jsonify, request

from rqstack.dashboard.api.base import api, int_arg, parse_time
from rqstack.dashboard.context import connection, settings
from rqstack.dashboard.openapi import openapi_document
from rqstack.errors import BadInput, RqstackError
from rqstack.sched.control import pause_scheduler, resume_scheduler, scheduler_status
from rqstack.sched.cron import describe_cron, fire_times, parse_cron, validate_timezone
from rqstack.status import stack_status
from rqstack.worker.jobs.registry import registered_jobs

MAX_PREVIEW = 50


@api.get("/health")
def health() -> tuple[Response, int]:
    """200 when Redis answers PING, 503 otherwise; needs no token (for load balancers and probes)."""
    try:
        connection().ping()
    except (redis.RedisError, OSError):
        body = {"error": {"code": "redis_unavailable", "message": "Redis does not answer", "field": None}}
        return jsonify({"status": "unavailable", **body}), 503
    return jsonify({"status": "ok"}), 200


@api.get("/status")
def status() -> Response:
    """Redis, every queue, every worker and the scheduler."""
    document = stack_status(connection(), settings())
    document["scheduler"] = scheduler_status(connection())
    return jsonify(document)


@api.get("/cron/next")
def cron_next() -> Response:
    """The next ``n`` fire times of ``expr`` in zone ``tz`` after ``from`` (default now)."""
    expr = request.args.get("expr", "")
    tz_name = request.args.get("tz") or settings().timezone
    count = int_arg("n", 5, 1, MAX_PREVIEW)
    start_text = request.args.get("from")
    start = parse_time(start_text, "from") if start_text else datetime.now(UTC)
    try:
        cron = parse_cron(expr)
        zone = validate_timezone(tz_name)
        times = fire_times(cron, zone, start, count)
    except RqstackError as exc:
        field = {"cron": "expr", "timezone": "tz"}.get(exc.field or "", exc.field)
        raise type(exc)(exc.message.replace("; the schedule was not saved", ""), field=field) from None
    except (OverflowError, ValueError) as exc:
        raise BadInput(
            f"no fire times can be computed from {start.isoformat()} ({exc})", field="from"
        ) from None
    return jsonify(
        {
            "expr": cron.text,
            "timezone": tz_name,
            "description": describe_cron(cron),
            "times": [moment.isoformat() for moment in times],
            "local": [moment.astimezone(zone).isoformat() for moment in times],
        }
    )


@api.get("/scheduler")
def scheduler() -> Response:
    """Leader, last tick, lag and whether the scheduler is paused."""
    return jsonify(scheduler_status(connection()))


@api.post("/scheduler/pause")
def pause() -> Response:
    """Stop firing schedules and moving delayed jobs until resumed."""
    pause_scheduler(connection())
    return jsonify(scheduler_status(connection()))


@api.post("/scheduler/resume")
def resume() -> Response:
    """Fire again; fires missed meanwhile follow each schedule's misfire policy."""
    resume_scheduler(connection())
    return jsonify(scheduler_status(connection()))


@api.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_document([definition.name for definition in registered_jobs()]))
