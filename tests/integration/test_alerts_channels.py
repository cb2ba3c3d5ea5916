"""Alert channels against real peers: an HTTP server in a thread and aiosmtpd."""

from __future__ import annotations

from typing import Any

import pytest
from peers import HttpPeer, SmtpPeer

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
