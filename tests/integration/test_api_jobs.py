"""The jobs API on a real redis-server: enqueue (one, bulk), show, cancel; nothing written on bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from dashboard_app import RedisUrl, make_app
from flask.testing import FlaskClient

from rqstack.worker.inspect import job_details


@pytest.fixture
def client(connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path) -> Iterator[FlaskClient]:
    """An open (loopback, no token) dashboard's test client."""
    app = make_app(connection, redis_server.url, tmp_path)
    with app.test_client() as test_client:
        yield test_client


def error_of(response: Any) -> dict[str, Any]:
    """The error object of a JSON error response."""
    assert response.is_json, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    return dict(body["error"])


def test_health_needs_nothing(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_registered_lists_demo_jobs(client: FlaskClient) -> None:
    names = {job["name"] for job in client.get("/api/jobs/registered").get_json()["jobs"]}
    assert {"demo.echo", "demo.sleep", "demo.add"} <= names


def test_enqueue_show_and_cancel(client: FlaskClient, connection: redis.Redis) -> None:
    response = client.post("/api/jobs", json={"job": "demo.add", "kwargs": {"a": 1, "b": 2}, "id": "add-1"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["id"] == "add-1"
    assert response.headers["Location"].endswith("/api/jobs/add-1")
    shown = client.get("/api/jobs/add-1").get_json()
    assert shown["status"] == "queued" and shown["job"] == "demo.add"
    cancel = client.post("/api/jobs/add-1/cancel")
    assert cancel.status_code == 200 and cancel.get_json()["status"] == "canceled"
    assert job_details(connection, "add-1")["status"] == "canceled"


def test_enqueue_later(client: FlaskClient) -> None:
    response = client.post("/api/jobs", json={"job": "demo.echo", "args": ["x"], "in": "10m"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "scheduled" and body["due"] is not None


def test_bulk_enqueue_returns_ids(client: FlaskClient, connection: redis.Redis) -> None:
    items = [{"job": "demo.add", "kwargs": {"a": i, "b": 1}} for i in range(5)]
    response = client.post("/api/jobs", json=items)
    assert response.status_code == 201
    ids = response.get_json()["ids"]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert connection.llen("rq:queue:default") == 5


def test_bulk_is_all_or_nothing(client: FlaskClient, connection: redis.Redis) -> None:
    before = connection.dbsize()
    items = [{"job": "demo.add", "kwargs": {"a": 1, "b": 2}}, {"job": "demo.add", "kwargs": {"a": "x"}}]
    response = client.post("/api/jobs", json=items)
    assert response.status_code == 422
    assert error_of(response)["field"].startswith("[1]")
    assert connection.dbsize() == before


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "field"),
    [
        ({"json": {"job": "no.such"}}, 422, "unknown_job", "job"),
        ({"json": {"job": "demo.add", "kwargs": {"a": 1}}}, 422, "invalid_params", None),
        (
            {"json": {"job": "demo.add", "kwargs": {"a": 1, "b": 2}, "queue": "bad queue"}},
            422,
            "invalid",
            "queue",
        ),
        ({"json": {"job": "demo.echo", "surprise": 1}}, 422, "invalid", "surprise"),
        ({"json": {"job": "demo.echo", "in": "soon"}}, 422, "invalid", "in"),
        ({"json": {"job": "demo.echo", "at": "2030-01-01T00:00:00"}}, 422, "invalid", "at"),
        (
            {"data": '{"job": "demo.echo", "timeout": 1e400}', "content_type": "application/json"},
            422,
            "invalid",
            "timeout",
        ),
        ({"json": {"job": "demo.echo", "retry": True}}, 422, "invalid", "retry"),
        ({"json": "just text"}, 400, "bad_request", None),
        ({"json": []}, 422, "invalid", None),
        ({"data": "{not json", "content_type": "application/json"}, 400, "bad_request", None),
        (
            {"data": "job=demo.echo", "content_type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
            None,
        ),
        ({"data": "x" * (1024 * 1024 + 1), "content_type": "application/json"}, 413, "too_large", None),
        (
            {"data": '{"job": "demo.echo", "args": [NaN]}', "content_type": "application/json"},
            400,
            "bad_request",
            None,
        ),
    ],
)
def test_bad_input_writes_nothing(
    client: FlaskClient,
    connection: redis.Redis,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    before = connection.dbsize()
    response = client.post("/api/jobs", **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    error = error_of(response)
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    assert connection.dbsize() == before


def test_taken_id_is_a_conflict(client: FlaskClient) -> None:
    assert client.post("/api/jobs", json={"job": "demo.echo", "id": "same"}).status_code == 201
    response = client.post("/api/jobs", json={"job": "demo.echo", "id": "same"})
    assert response.status_code == 409 and error_of(response)["code"] == "exists"


def test_unknown_job_id_is_404(client: FlaskClient) -> None:
    assert error_of(client.get("/api/jobs/nope"))["code"] == "not_found"
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.post("/api/jobs/nope/cancel").status_code == 404
    assert client.get("/api/jobs/bad%20id").status_code == 404


def test_cancel_of_a_finished_job_is_a_conflict(client: FlaskClient, connection: redis.Redis) -> None:
    from rq import SimpleWorker

    from rqstack.serializer import JSONFirstSerializer
    from rqstack.worker.enqueue import make_queue

    client.post("/api/jobs", json={"job": "demo.add", "kwargs": {"a": 1, "b": 2}, "id": "done"})
    queue = make_queue("default", connection)
    SimpleWorker([queue], connection=connection, serializer=JSONFirstSerializer).work(burst=True)
    assert client.get("/api/jobs/done").get_json()["result"] == 3
    response = client.post("/api/jobs/done/cancel")
    assert response.status_code == 409


def test_unknown_api_route_and_method_are_json(client: FlaskClient) -> None:
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = client.delete("/api/jobs")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


def test_unique_job_is_not_queued_twice(client: FlaskClient, connection: redis.Redis) -> None:
    body = {"job": "demo.add", "kwargs": {"a": 1, "b": 2}, "unique": True}
    first = client.post("/api/jobs", json=body)
    assert first.status_code == 201 and first.get_json()["existing"] is False
    second = client.post("/api/jobs", json=body)
    assert second.status_code == 200
    assert second.get_json()["existing"] is True and second.get_json()["id"] == first.get_json()["id"]
    assert connection.llen("rq:queue:default") == 1


def test_redis_down_is_a_clean_503(own_redis: Any, tmp_path: Path) -> None:
    client_redis = redis.Redis.from_url(own_redis.url, socket_connect_timeout=0.5, socket_timeout=0.5)
    app = make_app(client_redis, own_redis.url, tmp_path)
    own_redis.stop()
    with app.test_client() as test_client:
        health = test_client.get("/api/health")
        assert health.status_code == 503 and health.get_json()["status"] == "unavailable"
        status = test_client.get("/api/status")
        assert status.status_code == 503 and error_of(status)["code"] == "redis_unavailable"
        page = test_client.get("/")
        assert page.status_code == 503 and "text/html" in page.headers["Content-Type"]
