"""One send per channel (Slack incoming webhook, generic JSON webhook, SMTP email) and their checks."""

from __future__ import annotations

import json
import re
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from rqstack.errors import BadInput, RqstackError

USER_AGENT = "rqstack-alerts/1"
#: Status codes worth another attempt: the receiver is busy or broken for now, not refusing us.
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_SMTP_PORTS = {"smtp": 25, "smtps": 465}


class DeliveryError(RqstackError):
    """A channel did not accept a message; ``retryable`` says whether trying again may help."""

    code = "delivery_failed"

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def check_http_url(url: Any, field: str) -> str:
    """``url`` when it is an http(s) URL with a host; BadInput naming ``field`` otherwise."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(
            f"{field} {url!r} is not an http:// or https:// URL; nothing was sent; "
            "give the full URL, e.g. https://hooks.slack.com/services/...",
            field=field,
        )
    return str(url)


def check_email(address: Any, field: str) -> str:
    """``address`` when it looks like user@domain; BadInput naming ``field`` otherwise."""
    if not isinstance(address, str) or len(address) > 254 or not _EMAIL_RE.match(address.strip()):
        raise BadInput(
            f"{field} {address!r} is not an email address; nothing was sent; write it like ops@example.com",
            field=field,
        )
    return address.strip()


def check_recipients(value: str | list[str], field: str) -> list[str]:
    """Recipients from a comma-separated string or a list, each checked."""
    items = value.split(",") if isinstance(value, str) else list(value)
    recipients = [check_email(item, field) for item in items if str(item).strip()]
    if not recipients:
        raise BadInput(f"{field} names no recipient; nothing was sent; give an address", field=field)
    return recipients


def post_json(url: str, payload: dict[str, Any], *, timeout: float) -> int:
    """POST ``payload`` as JSON; the HTTP status on 2xx, DeliveryError otherwise."""
    body = json.dumps(payload, default=str, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT},
    )
    shown = _shown(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode(errors="replace").strip()
        exc.close()
        raise DeliveryError(
            f"{shown} answered HTTP {exc.code}{': ' + detail if detail else ''}",
            retryable=exc.code in _RETRYABLE_STATUS,
            retry_after=_retry_after(exc.headers.get("Retry-After")),
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise DeliveryError(f"{shown} could not be reached ({reason})", retryable=True) from None


def send_slack(webhook_url: str, text: str, *, timeout: float = 10.0, **extra: Any) -> None:
    """Post ``text`` to a Slack incoming webhook (Slack's mrkdwn applies)."""
    post_json(webhook_url, {"text": text, **extra}, timeout=timeout)


def send_webhook(url: str, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """POST ``payload`` as JSON to any endpoint."""
    post_json(url, payload, timeout=timeout)


@dataclass(frozen=True)
class SmtpTarget:
    """Where mail goes: from ``smtp[s]://[user[:password]@]host[:port][?from=addr&starttls=auto|yes|no]``."""

    host: str
    port: int
    implicit_tls: bool
    starttls: str
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def parse(cls, url: str, field: str = "RQSTACK_SMTP_URL") -> SmtpTarget:
        """Checked SMTP settings; BadInput with an example when the URL is unusable."""
        parts = urlsplit(url)
        if parts.scheme not in _SMTP_PORTS or not parts.hostname:
            raise BadInput(
                f"{field} {_shown(url)!r} is not an SMTP URL; no mail can be sent; "
                "write it like smtp://user:password@mail.example.com:587?from=rqstack@example.com",
                field=field,
            )
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        starttls = query.get("starttls", "auto")
        if starttls not in ("auto", "yes", "no"):
            raise BadInput(f"{field}: starttls must be auto, yes or no, got {starttls!r}", field=field)
        try:
            port = parts.port or _SMTP_PORTS[parts.scheme]
        except ValueError:
            raise BadInput(
                f"{field} {_shown(url)!r} has a bad port; no mail can be sent", field=field
            ) from None
        sender = check_email(
            query.get("from") or f"rqstack@{socket.getfqdn() or 'localhost'}", f"{field} from"
        )
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=parts.scheme == "smtps",
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=sender,
        )


def send_email(smtp_url: str, to: list[str], subject: str, body: str, *, timeout: float = 10.0) -> None:
    """Send a plain-text mail through the SMTP server of ``smtp_url``; DeliveryError on failure."""
    # Imported here: smtplib and email cost every worker ~6 ms at start, and few jobs send mail.
    import smtplib
    from email.message import EmailMessage
    from email.policy import SMTP as SMTP_POLICY
    from email.utils import formatdate, make_msgid

    target = SmtpTarget.parse(smtp_url)
    # The stdlib folds a long Subject onto a second line, which readers show with a leading space.
    message = EmailMessage(policy=SMTP_POLICY.clone(max_line_length=998))
    message["From"] = target.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject.replace("\n", " ")[:200]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=target.sender.rpartition("@")[2])
    message.set_content(body)
    where = f"SMTP server {target.host}:{target.port}"
    try:
        client: smtplib.SMTP
        if target.implicit_tls:
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with client:
            if not target.implicit_tls:
                client.ehlo()
                wanted = target.starttls == "yes" or (
                    target.starttls == "auto" and client.has_extn("starttls")
                )
                if wanted:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(message)
    except smtplib.SMTPResponseException as exc:
        # 4xx is "try later"; 5xx is a refusal that will not change on its own.
        raise DeliveryError(
            f"{where} refused the mail ({exc.smtp_code} {_decoded(exc.smtp_error)})",
            retryable=400 <= exc.smtp_code < 500,
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"{where} refused the recipients {sorted(exc.recipients)}", retryable=False
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{where} could not take the mail ({exc})", retryable=True) from None


def _decoded(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _shown(url: str) -> str:
    # Slack and many webhooks carry their secret in the path: show scheme and host only.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
