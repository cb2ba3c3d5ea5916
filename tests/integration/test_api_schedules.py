"""Schedules, cron preview and scheduler control through the API, against a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from dashboard_app import RedisUrl, make_app
from flask.testing import FlaskClient

NIGHTLY = {
    "name": "nightly",
    "job": "demo.echo",
    "cron": "0 3 * * *",
    "timezone": "Asia/Seoul",
    "args": ["hi"],
}


@pytest.fixture
def client(connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path) -> Iterator[FlaskClient]:
    """An open dashboard's test client."""
    with make_app(connection, redis_server.url, tmp_path).test_client() as test_client:
        yield test_client


def error_code(response: Any) -> str:
    """The ``error.code`` of a JSON error."""
    return str(response.get_json()["error"]["code"])


def test_create_list_show(client: FlaskClient) -> None:
    created = client.post("/api/schedules", json=NIGHTLY)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["owner"] == "api" and body["cron_description"]
    assert body["next_fire"].endswith("18:00:00+00:00")  # 03:00 in Seoul is 18:00 UTC
    assert created.headers["Location"].endswith("/api/schedules/nightly")
    names = [s["name"] for s in client.get("/api/schedules").get_json()["schedules"]]
    assert names == ["nightly"]
    assert client.get("/api/schedules/nightly").get_json()["args"] == ["hi"]


def test_create_twice_is_409(client: FlaskClient, connection: redis.Redis) -> None:
    client.post("/api/schedules", json=NIGHTLY)
    before = connection.dbsize()
    again = client.post("/api/schedules", json={**NIGHTLY, "cron": "5 * * * *"})
    assert again.status_code == 409 and error_code(again) == "exists"
    assert connection.dbsize() == before
    assert client.get("/api/schedules/nightly").get_json()["cron"] == "0 3 * * *"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NIGHTLY, "cron": "0 0 31 2 *"}, "cron"),
        ({**NIGHTLY, "cron": "61 * * * *"}, "cron"),
        ({**NIGHTLY, "timezone": "Mars/Base"}, "timezone"),
        ({**NIGHTLY, "job": "no.such"}, "job"),
        ({**NIGHTLY, "name": "bad name"}, "name"),
        ({**NIGHTLY, "misfire": "sometimes"}, "misfire"),
        ({**NIGHTLY, "bogus": 1}, "bogus"),
        ({**NIGHTLY, "created_at": "2020-01-01T00:00:00+00:00"}, "created_at"),
        ({"name": "x", "job": "demo.add", "cron": "* * * * *", "kwargs": {"a": 1}}, None),
    ],
)
def test_invalid_schedule_is_422_and_writes_nothing(
    client: FlaskClient, connection: redis.Redis, body: dict[str, Any], field: str | None
) -> None:
    before = connection.dbsize()
    response = client.post("/api/schedules", json=body)
    assert response.status_code == 422, response.get_json()
    if field is not None:
        assert response.get_json()["error"]["field"] == field
    assert connection.dbsize() == before


def test_put_creates_then_replaces(client: FlaskClient) -> None:
    first = client.put("/api/schedules/nightly", json={k: v for k, v in NIGHTLY.items() if k != "name"})
    assert first.status_code == 201
    second = client.put("/api/schedules/nightly", json={**NIGHTLY, "cron": "30 4 * * *"})
    assert second.status_code == 200 and second.get_json()["cron"] == "30 4 * * *"
    clash = client.put("/api/schedules/nightly", json={**NIGHTLY, "name": "other"})
    assert clash.status_code == 422


def test_patch_toggles_and_validates(client: FlaskClient) -> None:
    client.post("/api/schedules", json=NIGHTLY)
    off = client.patch("/api/schedules/nightly", json={"enabled": False})
    assert (
        off.status_code == 200 and off.get_json()["enabled"] is False and off.get_json()["next_fire"] is None
    )
    bad = client.patch("/api/schedules/nightly", json={"cron": "nope"})
    assert bad.status_code == 422
    assert client.get("/api/schedules/nightly").get_json()["cron"] == "0 3 * * *"
    assert client.patch("/api/schedules/missing", json={"enabled": False}).status_code == 404


def test_run_now_and_history(client: FlaskClient) -> None:
    client.post("/api/schedules", json=NIGHTLY)
    run = client.post("/api/schedules/nightly/run")
    assert run.status_code == 202
    job_id = run.get_json()["id"]
    runs = client.get("/api/schedules/nightly/runs").get_json()["runs"]
    assert [r["job_id"] for r in runs] == [job_id]
    assert client.get(f"/api/jobs/{job_id}").get_json()["status"] == "queued"
    assert client.get("/api/schedules/nightly/runs?limit=0").status_code == 422
    assert client.get("/api/schedules/missing/runs").status_code == 404


def test_delete(client: FlaskClient) -> None:
    client.post("/api/schedules", json=NIGHTLY)
    assert client.delete("/api/schedules/nightly").status_code == 204
    assert client.get("/api/schedules/nightly").status_code == 404
    assert client.delete("/api/schedules/nightly").status_code == 404


def test_cron_next_in_a_zone(client: FlaskClient) -> None:
    response = client.get("/api/cron/next?expr=0+3+*+*+*&tz=Asia/Seoul&n=3&from=2026-11-25T00:00:00Z")
    assert response.status_code == 200
    body = response.get_json()
    assert body["times"] == [
        "2026-11-25T18:00:00+00:00",
        "2026-11-26T18:00:00+00:00",
        "2026-11-27T18:00:00+00:00",
    ]
    assert body["local"][0] == "2026-11-26T03:00:00+09:00"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("expr=0+0+31+2+*", "expr"),
        ("expr=banana", "expr"),
        ("expr=", "expr"),
        ("expr=*+*+*+*+*&tz=Nowhere/City", "tz"),
        ("expr=*+*+*+*+*&n=0", "n"),
        ("expr=*+*+*+*+*&n=x", "n"),
        ("expr=*+*+*+*+*&from=yesterday", "from"),
    ],
)
def test_cron_next_rejects(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/api/cron/next?{query}")
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field


def test_pause_and_resume(client: FlaskClient) -> None:
    assert client.get("/api/scheduler").get_json()["paused"] is False
    assert client.post("/api/scheduler/pause").get_json()["paused"] is True
    assert client.get("/api/status").get_json()["scheduler"]["paused"] is True
    assert client.post("/api/scheduler/resume").get_json()["paused"] is False


def test_openapi_lists_every_route(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    app_routes = {
        rule.rule.replace("<job_id>", "{id}").replace("<name>", "{name}")
        for rule in client.application.url_map.iter_rules()
        if rule.rule.startswith("/api/")
    }
    assert app_routes == set(document["paths"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timeout": {"x": 1}}, "timeout"),
        ({"every": 1e300, "cron": None}, "every"),
        ({"misfire_grace": [1]}, "misfire_grace"),
    ],
)
def test_malformed_durations_are_422(client: FlaskClient, changes: dict[str, Any], field: str) -> None:
    response = client.post("/api/schedules", json={**NIGHTLY, **changes})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field
