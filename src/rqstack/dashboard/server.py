"""Serve the dashboard with waitress, refusing to expose it without a token; SIGTERM stops it cleanly."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from waitress import create_server

from rqstack.dashboard.app import create_app
from rqstack.errors import ConfigError
from rqstack.settings import Settings

logger = logging.getLogger(__name__)

#: Worker threads of waitress: enough for a few people and a Prometheus scraper.
THREADS = 8


class _Stop(Exception):
    """Raised in the main thread by SIGTERM to leave waitress's loop."""


def check_exposure(settings: Settings) -> None:
    """ConfigError when the dashboard would listen beyond loopback without a token."""
    if not settings.dashboard_is_loopback and not settings.dashboard_token:
        raise ConfigError(
            f"the dashboard would listen on {settings.dashboard_host} without a token; anyone on the network "
            "could read and change jobs, so it did not start; set RQSTACK_DASHBOARD_TOKEN or bind 127.0.0.1",
            field="RQSTACK_DASHBOARD_TOKEN",
        )


def serve(settings: Settings) -> None:
    """Run the dashboard until SIGTERM or SIGINT, then close the listening socket and return."""
    check_exposure(settings)
    app = create_app(settings)
    server = create_server(app, host=settings.dashboard_host, port=settings.dashboard_port, threads=THREADS)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, stop)
    logger.info(
        "dashboard on http://%s:%s/ (%s)",
        settings.dashboard_host,
        settings.dashboard_port,
        "token required" if settings.dashboard_token else "open: loopback only, no token",
    )
    try:
        server.run()
    except (_Stop, KeyboardInterrupt):
        logger.info("dashboard stopping")
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous)
