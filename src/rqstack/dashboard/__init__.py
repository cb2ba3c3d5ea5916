"""The web dashboard: HTML pages, rq-dashboard at /rq/, the JSON API at /api/, /metrics."""

from rqstack.dashboard.app import create_app

__all__ = ["create_app"]
