"""Helpers for the dashboard's integration tests: an app on the test Redis, optionally with a token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

import redis
from flask import Flask
from flask.testing import FlaskClient

from rqstack.dashboard import create_app
from rqstack.settings import Settings

TOKEN = "s3cret-token-for-tests"


class RedisUrl(Protocol):
    """What the tests need of the session's ``redis_server`` fixture (tests/conftest.py)."""

    url: str


def make_app(connection: redis.Redis, url: str, data_dir: Path, token: str | None = None) -> Flask:
    """A dashboard app on ``connection`` with its secret in ``data_dir``."""
    settings = Settings(redis_url=url, data_dir=data_dir, dashboard_token=token)
    app = create_app(settings, connection)
    app.config["TESTING"] = True
    return app


def auth(token: str = TOKEN) -> dict[str, str]:
    """The bearer header."""
    return {"Authorization": f"Bearer {token}"}


def csrf_of(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token a page hands to its forms (the client keeps the session cookie)."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def login(client: FlaskClient, token: str = TOKEN) -> None:
    """Log in through the form, as a person would."""
    csrf = csrf_of(client, "/login")
    response = client.post("/login", data={"password": token, "csrf_token": csrf, "next": "/"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
