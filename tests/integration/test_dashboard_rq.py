"""rq-dashboard at /rq/: behind our auth, no GET mutations, CSRF on its POSTs, every value escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from dashboard_app import TOKEN, RedisUrl, csrf_of, login, make_app
from flask.testing import FlaskClient
from rq import SimpleWorker
from rq.registry import FailedJobRegistry

from rqstack.dashboard.rq_mount import escape_rq_template
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import EnqueueRequest, enqueue, make_queue

EVIL = "<script>alert('x')</script>"


@pytest.fixture
def client(connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path) -> Iterator[FlaskClient]:
    """A logged-in client of a token-protected dashboard with one failed job ``boom``."""
    app = make_app(connection, redis_server.url, tmp_path, token=TOKEN)
    enqueue(connection, EnqueueRequest("demo.fail", kwargs={"message": EVIL}, job_id="boom"))
    queue = make_queue("default", connection)
    SimpleWorker([queue], connection=connection, serializer=JSONFirstSerializer).work(burst=True)
    with app.test_client() as test_client:
        login(test_client)
        yield test_client


def failed_ids(connection: redis.Redis) -> list[str]:
    """Ids in the default queue's failed registry."""
    return list(FailedJobRegistry("default", connection=connection).get_job_ids())


def test_requeue_all_by_get_is_refused(client: FlaskClient, connection: redis.Redis) -> None:
    response = client.get("/rq/requeue/default")
    assert response.status_code == 405
    assert failed_ids(connection) == ["boom"]


def test_rq_posts_need_csrf(client: FlaskClient, connection: redis.Redis) -> None:
    assert client.post("/rq/requeue/default").status_code == 403
    assert client.post("/rq/job/boom/delete").status_code == 403
    assert failed_ids(connection) == ["boom"]
    csrf = csrf_of(client, "/rq/")
    response = client.post("/rq/requeue/default", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200 and response.get_json()["count"] == 1
    assert failed_ids(connection) == []


def test_rq_posts_from_another_site_are_refused(client: FlaskClient, connection: redis.Redis) -> None:
    csrf = csrf_of(client, "/rq/")
    headers = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert client.post("/rq/job/boom/delete", headers=headers).status_code == 403
    assert failed_ids(connection) == ["boom"]


@pytest.mark.parametrize(
    "path", ["/rq/0/view/job/boom", "/rq/0/view/jobs/default/failed/8/asc/1", "/rq/0/view/workers", "/rq/"]
)
def test_underscore_templates_escape_everything(client: FlaskClient, path: str) -> None:
    html = client.get(path).get_data(as_text=True)
    assert "<%=" not in html
    assert "text(d.description).html()" not in html


def test_job_data_is_served_for_the_escaped_template(client: FlaskClient) -> None:
    data = client.get("/rq/0/data/job/boom.json").get_json()
    assert EVIL in data["exc_info"]  # raw in JSON; the page's <%- %> escapes it when rendering
    html = client.get("/rq/0/view/job/boom").get_data(as_text=True)
    assert "<%- d.exc_info %>" in html and "<%- d.description %>" in html


def test_queue_name_from_the_url_cannot_reach_the_script(client: FlaskClient) -> None:
    evil = "x');alert(1);"
    assert client.get(f"/rq/0/view/jobs/{evil}/queued/8/asc/1").status_code == 404
    html = client.get("/rq/0/view/jobs/default/queued/8/asc/1").get_data(as_text=True)
    assert '$(this).val("default")' in html


def test_inline_script_carries_the_csp_nonce(client: FlaskClient) -> None:
    response = client.get("/rq/")
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">' in response.get_data(as_text=True)


def test_unknown_job_and_instance_are_404(client: FlaskClient) -> None:
    assert client.get("/rq/0/view/job/missing").status_code == 404
    assert client.get("/rq/0/data/job/missing.json").status_code == 404
    assert client.get("/rq/1/view/queues").status_code == 404


def test_escape_rq_template_rewrites_outputs() -> None:
    source = "<%= d.a %> <%= $('<div/>').text(d.b).html() %> <%- d.c %> $(this).val('{{ queue.name }}');"
    assert (
        escape_rq_template(source) == "<%- d.a %> <%- d.b %> <%- d.c %> $(this).val({{ queue.name|tojson }});"
    )
