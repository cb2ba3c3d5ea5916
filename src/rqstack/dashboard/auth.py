"""Who may use the dashboard: a bearer token for programs, a login form and session for people.

With no RQSTACK_DASHBOARD_TOKEN the dashboard is open; the server only allows that on loopback,
and requests must then name a loopback Host (so a DNS-rebinding page cannot reach it).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from rqstack.dashboard.http_errors import Forbidden, TooManyAttempts, Unauthorized
from rqstack.dashboard.throttle import WINDOW_SECONDS, FailureThrottle
from rqstack.settings import Settings, is_loopback

auth = Blueprint("auth", __name__)

#: Reachable without credentials: liveness probe, the API description, the login form, static files.
PUBLIC_PATHS = ("/api/health", "/api/openapi.json", "/login")
PUBLIC_PREFIXES = ("/static/",)
SESSION_HOURS = 12


def settings() -> Settings:
    """The settings the app was built with."""
    value: Settings = current_app.config["RQSTACK_SETTINGS"]
    return value


def token_matches(given: str, token: str) -> bool:
    """Constant-time comparison, so response timing does not leak the token."""
    return hmac.compare_digest(given.encode(), token.encode())


def _fingerprint(token: str) -> str:
    # Stored in the session instead of a bare flag: changing the token logs everybody out.
    key = current_app.secret_key
    assert isinstance(key, bytes)
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _throttle() -> FailureThrottle:
    throttle: FailureThrottle = current_app.extensions["rqstack_throttle"]
    return throttle


def _check_not_throttled() -> None:
    if _throttle().blocked(request.remote_addr or "?"):
        raise TooManyAttempts(
            f"too many wrong tokens from {request.remote_addr}; nothing was done; wait {WINDOW_SECONDS:.0f} s"
        )


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _is_public() -> bool:
    return request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)


def _is_program_path() -> bool:
    return request.path.startswith(("/api/", "/metrics")) or request.path == "/api"


def authenticate() -> None:
    """Set ``g.auth`` to token, session or open; refuse (401/403) or redirect to the login form."""
    token = settings().dashboard_token
    if token is None:
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        if not (is_loopback(host) or host == settings().dashboard_host):
            raise Forbidden(
                f"Host {request.host!r} is not this machine; the open (token-less) dashboard only answers "
                "loopback names; use http://127.0.0.1 or set RQSTACK_DASHBOARD_TOKEN"
            )
        g.auth = "open"
        return
    given = _bearer()
    if given is not None:
        _check_not_throttled()
        if not token_matches(given, token):
            _throttle().fail(request.remote_addr or "?")
            raise Unauthorized("the bearer token is wrong; nothing was done; send RQSTACK_DASHBOARD_TOKEN")
        g.auth = "token"
        return
    if hmac.compare_digest(str(session.get("auth", "")), _fingerprint(token)):
        g.auth = "session"
        return
    g.auth = None


def init_app(app: Flask) -> None:
    """Guard every request and add /login and /logout."""
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=SESSION_HOURS)
    app.extensions["rqstack_throttle"] = FailureThrottle()

    @app.before_request
    def require_login() -> Response | None:
        if _is_public():
            g.auth = "public"
            if settings().dashboard_token is None:
                authenticate()
            return None
        authenticate()
        if g.auth is not None:
            return None
        if _is_program_path():
            raise Unauthorized(
                "this endpoint needs `Authorization: Bearer <RQSTACK_DASHBOARD_TOKEN>`; nothing was done"
            )
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    app.register_blueprint(auth)


def safe_next(target: str | None) -> str:
    """A same-site path to go to after login; anything else becomes the overview."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


@auth.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; the password is RQSTACK_DASHBOARD_TOKEN."""
    token = settings().dashboard_token
    target = safe_next(request.values.get("next"))
    if token is None:
        return redirect(target)
    error = None
    if request.method == "POST":
        _check_not_throttled()
        if token_matches(request.form.get("password", ""), token):
            session.clear()
            session.permanent = True
            session["auth"] = _fingerprint(token)
            return redirect(target)
        _throttle().fail(request.remote_addr or "?")
        error = "Wrong token. Use the value of RQSTACK_DASHBOARD_TOKEN."
    return render_template("login.html", error=error, next=target), 401 if error else 200


@auth.post("/logout")
def logout() -> Response:
    """End the session."""
    session.clear()
    return redirect(url_for("auth.login") if settings().dashboard_token else "/")
