"""Serve the dashboard with waitress, refusing to expose it without a token."""

from __future__ import annotations

import logging

from waitress import serve as waitress_serve

from rqstack.dashboard.app import create_app
from rqstack.errors import ConfigError
from rqstack.settings import Settings

logger = logging.getLogger(__name__)


def check_exposure(settings: Settings) -> None:
    """ConfigError when the dashboard would listen beyond loopback without a token."""
    if not settings.dashboard_is_loopback and not settings.dashboard_token:
        raise ConfigError(
            f"the dashboard would listen on {settings.dashboard_host} without a token; anyone on the network "
            "could read and change jobs, so it did not start; set RQSTACK_DASHBOARD_TOKEN or bind 127.0.0.1",
            field="RQSTACK_DASHBOARD_TOKEN",
        )


def serve(settings: Settings) -> None:
    """Run the dashboard until SIGTERM/SIGINT."""
    check_exposure(settings)
    app = create_app(settings)
    logger.info("dashboard on http://%s:%s/", settings.dashboard_host, settings.dashboard_port)
    waitress_serve(app, host=settings.dashboard_host, port=settings.dashboard_port, threads=8, _quiet=True)
