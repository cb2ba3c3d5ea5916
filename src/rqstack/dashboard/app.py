"""``create_app(settings)``: the Flask application with rq-dashboard mounted at /rq/ and the API."""

from __future__ import annotations

from typing import Any

import redis
import rq_dashboard
from flask import Flask, jsonify
from rq_dashboard.web import config as rq_dashboard_config

from rqstack.connection import client_from_url, redis_url
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings


def create_app(settings: Settings | None = None, connection: redis.Redis | None = None) -> Flask:
    """Build the dashboard for ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    url = redis_url(settings)
    app = Flask(__name__)
    app.config["RQSTACK_SETTINGS"] = settings
    app.config["RQSTACK_REDIS"] = connection or client_from_url(url)
    app.config["RQ_DASHBOARD_REDIS_URL"] = url
    rq_dashboard_config.serializer = JSONFirstSerializer
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/rq")

    @app.get("/api/health")
    def health() -> Any:
        try:
            app.config["RQSTACK_REDIS"].ping()
        except (redis.RedisError, OSError) as exc:
            return jsonify({"status": "unavailable", "redis": str(exc)}), 503
        return jsonify({"status": "ok"})

    return app
