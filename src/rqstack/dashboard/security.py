"""Security headers on every response (CSP without inline scripts, no framing, no sniffing), and a
session cookie marked Secure whenever the dashboard is reached over HTTPS."""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSessionInterface

#: Our pages: scripts only from /static, no inline code at all.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: rq-dashboard's pages: its one inline script gets a nonce; its underscore.js templates need eval.
RQ_CSP = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def csp_nonce() -> str:
    """A fresh nonce per request for the one inline script rq-dashboard's layout has."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return str(nonce)


class SchemeAwareSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the cookie Secure when the request came over HTTPS.

    A fixed ``SESSION_COOKIE_SECURE`` would break logging in over plain HTTP on 127.0.0.1 (the
    default) or leave the cookie sendable over HTTP when a TLS proxy exposes the dashboard. Behind a
    proxy the scheme is its ``X-Forwarded-Proto``: a client that forges it only gets a cookie its
    own plain-HTTP requests cannot send back.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        """True for a request that arrived, or was forwarded, over HTTPS."""
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return request.is_secure or forwarded == "https"


def init_app(app: Flask) -> None:
    """Add the headers to every response; Secure session cookies over HTTPS."""
    app.session_interface = SchemeAwareSessions()

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        if request.path.startswith("/rq/"):
            headers["Content-Security-Policy"] = RQ_CSP.format(nonce=csp_nonce())
        else:
            headers["Content-Security-Policy"] = PAGE_CSP
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if not request.path.startswith(("/static/", "/rq/static/")):
            headers.setdefault("Cache-Control", "no-store")
        return response

    app.jinja_env.globals["csp_nonce"] = csp_nonce
