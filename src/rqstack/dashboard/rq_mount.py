"""rq-dashboard at /rq/, made safe: our auth and CSRF, no GET mutations, every value escaped.

rq-dashboard 0.9 renders job descriptions, exceptions, queue and worker names with underscore.js
``<%= %>`` (raw HTML) and pastes the queue name from the URL into an inline script. Its templates are
rewritten as they load: ``<%=`` becomes the escaping ``<%-``, and the script value goes through tojson.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import redis
import rq_dashboard
from flask import Flask, request
from jinja2 import BaseLoader, Environment
from rq_dashboard.web import config as rq_dashboard_config
from werkzeug.exceptions import MethodNotAllowed

from rqstack.constants import NAME_RE
from rqstack.errors import NotFound
from rqstack.serializer import JSONFirstSerializer

URL_PREFIX = "/rq"
#: Endpoints of rq-dashboard that change data; allowed only as POST with our CSRF token.
MUTATING_ENDPOINTS = frozenset(
    {
        "rq_dashboard.delete_job_view",
        "rq_dashboard.requeue_job_view",
        "rq_dashboard.requeue_all",
        "rq_dashboard.empty_queue",
        "rq_dashboard.compact_queue",
    }
)
_PRE_ESCAPED = re.compile(r"<%=\s*\$\('<div/>'\)\.text\((?P<expr>[^)]*)\)\.html\(\)\s*%>")
_RAW_OUTPUT = re.compile(r"<%=")
_QUOTED_QUEUE = re.compile(r"'\{\{\s*queue\.name\s*\}\}'")


def escape_rq_template(source: str) -> str:
    """rq-dashboard template text with every underscore.js output escaped and script values as JSON."""
    source = _PRE_ESCAPED.sub(lambda m: f"<%- {m.group('expr').strip()} %>", source)
    source = _RAW_OUTPUT.sub("<%-", source)
    return _QUOTED_QUEUE.sub("{{ queue.name|tojson }}", source)


class EscapingLoader(BaseLoader):
    """Wraps Flask's loader; rewrites rq-dashboard's own templates (not our overrides) as they load."""

    def __init__(self, inner: BaseLoader, own: BaseLoader | None) -> None:
        self.inner = inner
        self.own = own

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        """The (possibly rewritten) source of ``template``."""
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template.startswith("rq_dashboard/") and not self._overridden(environment, template):
            source = escape_rq_template(source)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        """Every template name the inner loader knows."""
        return self.inner.list_templates()

    def _overridden(self, environment: Environment, template: str) -> bool:
        if self.own is None:
            return False
        try:
            self.own.get_source(environment, template)
        except Exception:  # TemplateNotFound: not one of ours
            return False
        return True


def mount_rq_dashboard(app: Flask, url: str, connection: redis.Redis) -> None:
    """Register rq-dashboard under /rq/ on ``connection`` with our guards."""
    app.config["RQ_DASHBOARD_REDIS_URL"] = (url,)
    app.config.setdefault("RQ_DASHBOARD_POLL_INTERVAL", 2500)
    app.redis_conn = connection  # type: ignore[attr-defined]  # rq-dashboard reads it from the app
    rq_dashboard_config.serializer = JSONFirstSerializer
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
    app.jinja_env.loader = EscapingLoader(app.create_global_jinja_loader(), app.jinja_loader)

    # First hook of rq-dashboard's blueprint on this app (after the app-wide auth and CSRF hooks);
    # the shared blueprint object itself is left untouched, so many apps can mount it.
    app.before_request_funcs.setdefault(rq_dashboard.blueprint.name, []).insert(0, _guard_rq_dashboard)


def _guard_rq_dashboard() -> None:
    """No GET mutations, one Redis instance, and only names from the safe alphabet in its URLs."""
    if request.endpoint in MUTATING_ENDPOINTS and request.method != "POST":
        raise MethodNotAllowed(valid_methods=["POST"])
    args: dict[str, Any] = request.view_args or {}
    if args.get("instance_number", 0) != 0:
        raise NotFound("rqstack's dashboard shows one Redis instance: use /rq/0/")
    for key in ("queue_name", "job_id"):
        value = args.get(key)
        if value is not None and not NAME_RE.match(str(value)):
            raise NotFound(f"{key.replace('_', ' ')} {str(value)[:80]!r} does not exist")
