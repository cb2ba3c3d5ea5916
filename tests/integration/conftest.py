"""Fixtures of the integration tier: real HTTP and SMTP peers for alerts and notify jobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from peers import HttpPeer, SmtpPeer, running_http_peer, running_smtp_peer

from rqstack.worker.alerts.delivery import reset_pauses


@pytest.fixture(autouse=True)
def fresh_pauses() -> Iterator[None]:
    """No alert channel paused by an earlier test (ports are reused, so targets can repeat)."""
    reset_pauses()
    yield
    reset_pauses()


@pytest.fixture
def http_peer() -> Iterator[HttpPeer]:
    """An HTTP server on a free loopback port, stopped after the test."""
    with running_http_peer() as peer:
        yield peer


@pytest.fixture
def smtp_peer() -> Iterator[SmtpPeer]:
    """aiosmtpd listening on loopback, stopped after the test."""
    with running_smtp_peer() as peer:
        yield peer
