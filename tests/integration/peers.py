"""Real protocol peers for alert tests: an HTTP server in a thread and aiosmtpd."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from rqstack.connection import free_port


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


@contextmanager
def running_http_peer() -> Iterator[HttpPeer]:
    """An HTTP server on a free loopback port, stopped on exit."""
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


@contextmanager
def running_smtp_peer() -> Iterator[SmtpPeer]:
    """aiosmtpd listening on loopback, stopped on exit."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpPeer(port, inbox)
    controller.stop()
