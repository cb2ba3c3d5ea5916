"""Alert channels against real peers: an HTTP server in a thread and aiosmtpd; also the peers' fixtures."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from rqstack.connection import free_port
from rqstack.errors import BadInput
from rqstack.worker.alerts.channels import (
    DeliveryError,
    SmtpTarget,
    check_email,
    check_http_url,
    send_email,
    send_slack,
    send_webhook,
)
from rqstack.worker.alerts.delivery import reset_pauses


@pytest.fixture(autouse=True)
def fresh_pauses() -> Iterator[None]:
    """No channel paused by an earlier test (ports are reused, so targets can repeat)."""
    reset_pauses()
    yield
    reset_pauses()


@dataclass
class HttpPeer:
    """A real HTTP server: records each POST and answers with the next queued status (200 when none)."""

    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self) -> list[Any]:
        return [r["json"] for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: _PeerServer

    def do_POST(self) -> None:
        peer = self.server.peer
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        peer.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
        status = peer.statuses.pop(0) if peer.statuses else 200
        time.sleep(peer.delay)
        reply = b"ok" if status < 400 else b"no_service"
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except OSError:
            pass  # the client gave up waiting (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _PeerServer(ThreadingHTTPServer):
    peer: HttpPeer


@pytest.fixture
def http_peer() -> Iterator[HttpPeer]:
    """An HTTP server on a free loopback port, stopped after the test."""
    server = _PeerServer(("127.0.0.1", 0), _Handler)
    server.peer = HttpPeer(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.peer
    server.shutdown()
    server.server_close()
    thread.join(5)


@dataclass
class Inbox:
    """aiosmtpd handler that keeps every message it receives."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@dataclass
class SmtpPeer:
    """A real SMTP server (aiosmtpd) on a free loopback port."""

    port: int
    inbox: Inbox

    def url(self, sender: str = "rqstack@example.com") -> str:
        return f"smtp://127.0.0.1:{self.port}?from={sender}"


@pytest.fixture
def smtp_peer() -> Iterator[SmtpPeer]:
    """aiosmtpd listening on loopback, stopped after the test."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpPeer(port, inbox)
    controller.stop()


def test_slack_posts_text_json(http_peer: HttpPeer) -> None:
    send_slack(http_peer.url("/services/T0/B0/secret"), "*hello* world", timeout=2)
    (request,) = http_peer.requests
    assert request["path"] == "/services/T0/B0/secret"
    assert request["json"] == {"text": "*hello* world"}
    assert request["headers"]["Content-Type"].startswith("application/json")


def test_webhook_error_says_status_and_hides_the_path(http_peer: HttpPeer) -> None:
    http_peer.statuses = [503, 404]
    with pytest.raises(DeliveryError) as busy:
        send_webhook(http_peer.url("/secret-token"), {"a": 1}, timeout=2)
    assert busy.value.retryable and "HTTP 503" in busy.value.message
    assert "secret-token" not in busy.value.message
    with pytest.raises(DeliveryError) as gone:
        send_webhook(http_peer.url(), {"a": 1}, timeout=2)
    assert not gone.value.retryable and "no_service" in gone.value.message


def test_unreachable_server_is_retryable() -> None:
    with pytest.raises(DeliveryError) as caught:
        send_webhook(f"http://127.0.0.1:{free_port()}/x", {}, timeout=1)
    assert caught.value.retryable and "could not be reached" in caught.value.message


def test_email_reaches_the_smtp_server(smtp_peer: SmtpPeer) -> None:
    send_email(smtp_peer.url(), ["ops@example.com", "dev@example.org"], "Subject ☃", "body line\n", timeout=2)
    (message,) = smtp_peer.inbox.messages
    assert message["Subject"] == "Subject ☃"
    assert message["From"] == "rqstack@example.com"
    assert smtp_peer.inbox.recipients == [["ops@example.com", "dev@example.org"]]
    assert message.get_content().strip() == "body line"


def test_email_to_a_dead_server_is_retryable() -> None:
    with pytest.raises(DeliveryError) as caught:
        send_email(
            f"smtp://127.0.0.1:{free_port()}?from=a@example.com", ["b@example.com"], "s", "b", timeout=1
        )
    assert caught.value.retryable


@pytest.mark.parametrize(
    "url", ["ftp://h/x", "file:///etc/passwd", "javascript:alert(1)", "http://", "", None]
)
def test_only_http_urls_are_accepted(url: Any) -> None:
    with pytest.raises(BadInput, match="not an http"):
        check_http_url(url, "url")


@pytest.mark.parametrize("address", ["nobody", "a@", "@b.com", "a b@c.com", "a@b@c.com", "x@-bad.com", 42])
def test_addresses_must_look_like_addresses(address: Any) -> None:
    with pytest.raises(BadInput, match="not an email address"):
        check_email(address, "to")


def test_smtp_url_parts() -> None:
    target = SmtpTarget.parse("smtps://us%40er:p%2Fw@mail.example.com?from=ops@example.com&starttls=no")
    assert (target.host, target.port, target.implicit_tls) == ("mail.example.com", 465, True)
    assert (target.username, target.password, target.sender) == ("us@er", "p/w", "ops@example.com")
    with pytest.raises(BadInput, match="not an SMTP URL"):
        SmtpTarget.parse("http://mail.example.com")
