"""``create_app(settings)``: pages, the JSON API, /metrics and rq-dashboard at /rq/, behind one auth."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import redis
from flask import Flask

from rqstack.connection import client_from_url, redis_url
from rqstack.dashboard import auth, csrf, http_errors, security
from rqstack.dashboard.api import api
from rqstack.dashboard.metrics import metrics
from rqstack.dashboard.pages import pages
from rqstack.dashboard.pages_schedules import schedule_pages
from rqstack.dashboard.rq_mount import mount_rq_dashboard
from rqstack.dashboard.secret import secret_key
from rqstack.dashboard.views import when
from rqstack.settings import Settings
from rqstack.worker.jobs.registry import load_jobs

#: Largest request body accepted (JSON or form); bigger ones get 413 before anything is parsed.
MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None, connection: redis.Redis | None = None) -> Flask:
    """The dashboard for ``settings`` (default: the environment) on ``connection`` (default: settings)."""
    settings = settings or Settings.from_env()
    url = redis_url(settings)
    client = connection or client_from_url(url)
    load_jobs(settings.job_modules)

    app = Flask(__name__)
    app.config.update(
        RQSTACK_SETTINGS=settings,
        RQSTACK_REDIS=client,
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_NAME="rqstack_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider has it

    # Order matters: security headers on every answer, then who you are, then may you change things.
    security.init_app(app)
    auth.init_app(app)
    csrf.init_app(app)
    http_errors.init_app(app)

    app.register_blueprint(api)
    app.register_blueprint(metrics)
    app.register_blueprint(pages)
    app.register_blueprint(schedule_pages)
    mount_rq_dashboard(app, url, client)
    app.jinja_env.globals["version"] = _version()
    app.jinja_env.filters["when"] = when
    return app


def _version() -> str:
    try:
        return version("rqstack")
    except PackageNotFoundError:
        return "dev"
