"""Auth, CSRF, cross-origin refusal and security headers of the dashboard and its API."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from dashboard_app import TOKEN, RedisUrl, auth, csrf_of, login, make_app
from flask import Flask
from flask.testing import FlaskClient

from rqstack.dashboard.secret import SECRET_FILE_NAME


@pytest.fixture
def app(connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path) -> Flask:
    """A dashboard protected by a token."""
    return make_app(connection, redis_server.url, tmp_path, token=TOKEN)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    """A browser-like client of the protected dashboard."""
    with app.test_client() as test_client:
        yield test_client


@pytest.fixture
def open_client(connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path) -> Iterator[FlaskClient]:
    """A client of a dashboard without a token (loopback only)."""
    with make_app(connection, redis_server.url, tmp_path / "open").test_client() as test_client:
        yield test_client


def test_api_needs_the_bearer_token(client: FlaskClient) -> None:
    missing = client.get("/api/status")
    assert missing.status_code == 401
    assert missing.get_json()["error"]["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/status", headers=auth("wrong")).status_code == 401
    assert client.get("/api/status", headers=auth()).status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth()).status_code == 200


def test_health_and_openapi_are_public(client: FlaskClient) -> None:
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200


@pytest.mark.parametrize("path", ["/", "/schedules/", "/scheduler", "/rq/", "/rq/0/view/jobs", "/jobs/x"])
def test_pages_redirect_to_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_sets_a_safe_session_cookie(client: FlaskClient) -> None:
    csrf = csrf_of(client, "/login")
    wrong = client.post("/login", data={"password": "nope", "csrf_token": csrf})
    assert wrong.status_code == 401
    right = client.post("/login", data={"password": TOKEN, "csrf_token": csrf, "next": "/schedules/"})
    assert right.status_code == 302 and right.headers["Location"] == "/schedules/"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/").status_code == 200
    assert client.get("/rq/").status_code == 200


@pytest.mark.parametrize(
    ("base_url", "headers", "secure"),
    [
        ("http://localhost", {}, False),
        ("https://localhost", {}, True),
        ("http://localhost", {"X-Forwarded-Proto": "https"}, True),
    ],
)
def test_the_session_cookie_is_secure_over_https(
    app: Flask, base_url: str, headers: dict[str, str], secure: bool
) -> None:
    with app.test_client() as client:
        client.environ_base.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
        csrf = csrf_of(client, f"{base_url}/login")
        response = client.post(f"{base_url}/login", data={"password": TOKEN, "csrf_token": csrf})
        assert response.status_code == 302
        assert ("Secure" in response.headers["Set-Cookie"]) is secure
        assert client.get(f"{base_url}/").status_code == 200


def test_login_refuses_foreign_next(client: FlaskClient) -> None:
    csrf = csrf_of(client, "/login")
    response = client.post("/login", data={"password": TOKEN, "csrf_token": csrf, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_login_form_needs_csrf(client: FlaskClient) -> None:
    assert client.post("/login", data={"password": TOKEN}).status_code == 403


def test_session_api_writes_need_the_csrf_header(client: FlaskClient, connection: redis.Redis) -> None:
    login(client)
    assert client.get("/api/scheduler").status_code == 200
    refused = client.post("/api/scheduler/pause")
    assert refused.status_code == 403 and refused.get_json()["error"]["field"] == "csrf_token"
    assert connection.hget("rqstack:scheduler:state", "paused") is None
    csrf = csrf_of(client)
    assert client.post("/api/scheduler/pause", headers={"X-CSRF-Token": csrf}).status_code == 200


def test_changing_the_token_ends_sessions(
    client: FlaskClient, connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path
) -> None:
    login(client)
    cookie = client.get_cookie("rqstack_session")
    assert cookie is not None
    rotated = make_app(connection, redis_server.url, tmp_path, token="a-new-token")
    with rotated.test_client() as other:
        other.set_cookie("rqstack_session", cookie.value)
        assert other.get("/").status_code == 302


def test_cross_origin_writes_are_refused(open_client: FlaskClient, connection: redis.Redis) -> None:
    open_client.post("/api/jobs", json={"job": "demo.echo", "id": "victim"})
    before = connection.dbsize()
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        response = open_client.post("/api/jobs/victim/cancel", headers=headers)
        assert response.status_code == 403, headers
    assert open_client.get("/api/jobs/victim").get_json()["status"] == "queued"
    assert connection.dbsize() == before
    same = open_client.post("/api/jobs/victim/cancel", headers={"Origin": "http://localhost"})
    assert same.status_code == 200


def test_open_dashboard_only_answers_loopback_hosts(open_client: FlaskClient) -> None:
    assert open_client.get("/api/status", headers={"Host": "rebind.evil.example"}).status_code == 403
    assert open_client.get("/api/status", headers={"Host": "127.0.0.1:9181"}).status_code == 200


def test_open_dashboard_page_forms_need_csrf(open_client: FlaskClient, connection: redis.Redis) -> None:
    assert open_client.post("/scheduler/pause").status_code == 403
    assert connection.hget("rqstack:scheduler:state", "paused") is None
    csrf = csrf_of(open_client)
    assert open_client.post("/scheduler/pause", data={"csrf_token": csrf}).status_code == 302
    # A browser that holds the session must send the header to the API as well.
    assert open_client.post("/api/scheduler/resume").status_code == 403


def test_security_headers(client: FlaskClient) -> None:
    login(client)
    for path in ("/", "/rq/", "/api/health"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "unsafe-inline" not in script_src
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_secret_key_file_is_private_and_stable(
    app: Flask, connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path
) -> None:
    path = tmp_path / SECRET_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = make_app(connection, redis_server.url, tmp_path, token=TOKEN)
    assert again.secret_key == app.secret_key


def test_token_guessing_is_throttled(client: FlaskClient) -> None:
    for _ in range(10):
        assert client.get("/api/status", headers=auth("guess")).status_code == 401
    throttled = client.get("/api/status", headers=auth("guess"))
    assert throttled.status_code == 429 and throttled.get_json()["error"]["code"] == "too_many_attempts"
    assert client.get("/api/status", headers=auth()).status_code == 429
    csrf = csrf_of(client, "/login")
    assert client.post("/login", data={"password": TOKEN, "csrf_token": csrf}).status_code == 429
