"""No state change from another site: an Origin check on every write, a CSRF token from browsers."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, g, request, session

from rqstack.dashboard.http_errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
#: rq-dashboard's own scripts send this spelling.
LEGACY_HEADER = "X-CSRFToken"


def csrf_token() -> str:
    """This session's CSRF token (created on first use); forms and page scripts send it back."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_origin() -> None:
    """Forbidden when the browser says the request comes from another site."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site in ("cross-site", "same-site"):
        raise _cross_origin(fetch_site)
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin == "null" or urlsplit(origin).netloc != request.host:
            raise _cross_origin(origin)
        return
    referer = request.headers.get("Referer")
    if referer and urlsplit(referer).netloc != request.host:
        raise _cross_origin(referer)


def _cross_origin(source: str) -> Forbidden:
    return Forbidden(
        f"cross-origin request refused (from {source[:100]!r}); nothing was changed; "
        "change things from the dashboard's own pages or with a bearer token"
    )


def needs_token() -> bool:
    """Whether this write needs the CSRF token: pages always, the API when a browser session drives it."""
    if not request.path.startswith(("/api/", "/metrics")):
        return True
    if g.get("auth") == "token":
        return False
    if g.get("auth") == "session":
        return True
    # Open dashboard: scripts without cookies are automation; a browser that holds our session is not.
    return "csrf" in session


def check_token() -> None:
    """Forbidden unless the form field or header matches the session's token."""
    expected = session.get("csrf")
    given = request.headers.get(HEADER) or request.headers.get(LEGACY_HEADER)
    if given is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        given = request.form.get(FORM_FIELD)
    if not isinstance(expected, str) or not given or not hmac.compare_digest(given, expected):
        raise Forbidden(
            "the CSRF token is missing or stale; nothing was changed; reload the page and try again",
            field=FORM_FIELD,
        )


def init_app(app: Flask) -> None:
    """Check every state-changing request; expose ``csrf_token()`` to templates."""

    @app.before_request
    def protect() -> None:
        if request.method in SAFE_METHODS:
            return
        check_origin()
        if needs_token():
            check_token()

    app.jinja_env.globals["csrf_token"] = csrf_token
