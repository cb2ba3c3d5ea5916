"""Schemathesis drives every operation of /api/openapi.json: no server errors, answers as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import schemathesis
from dashboard_app import TOKEN, RedisUrl, auth, make_app
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from rqstack.dashboard.openapi import openapi_document
from rqstack.dashboard.throttle import FailureThrottle

OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms(
    connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path, method: str, path: str
) -> None:
    app = make_app(connection, redis_server.url, tmp_path, token=TOKEN)
    # Schemathesis sends a wrong token in every example (ignored-auth check); do not lock it out.
    app.extensions["rqstack_throttle"] = FailureThrottle(limit=1_000_000)
    operation = schemathesis.openapi.from_wsgi("/api/openapi.json", app)[path][method]

    strategy = operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE)

    @given(case=strategy)
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: schemathesis.Case) -> None:
        # Schema-valid is not always meaningful (an unregistered job, a cron that never fires): those get
        # a documented 422, so positive-data acceptance is left out; every other check runs.
        case.call_and_validate(headers=auth(), excluded_checks=[positive_data_acceptance])

    check()
