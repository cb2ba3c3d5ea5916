"""HTML pages on a real redis-server: they render, their forms change things, and user text stays text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from dashboard_app import RedisUrl, csrf_of, make_app
from flask.testing import FlaskClient
from rq import SimpleWorker

from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import EnqueueRequest, enqueue, make_queue

EVIL = "<script>alert('x')</script>"


@pytest.fixture
def client(connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path) -> Iterator[FlaskClient]:
    """An open dashboard's test client (keeps its session, like a browser)."""
    with make_app(connection, redis_server.url, tmp_path).test_client() as test_client:
        yield test_client


@pytest.fixture
def store(connection: redis.Redis) -> ScheduleStore:
    """The schedule store on the test Redis."""
    return ScheduleStore(connection)


def add_schedule(store: ScheduleStore, **changes: object) -> Schedule:
    """Save a demo schedule."""
    fields = {"name": "nightly", "job": "demo.echo", "cron": "0 3 * * *", "timezone": "Asia/Seoul"}
    return store.create(Schedule.from_dict({**fields, **changes}))


def form_fields(csrf: str, **changes: str) -> dict[str, str]:
    """A filled-in schedule form."""
    fields = {
        "csrf_token": csrf,
        "name": "hourly",
        "job": "demo.echo",
        "timing": "cron",
        "cron": "0 * * * *",
        "timezone": "Europe/Berlin",
        "args": "[]",
        "kwargs": '{"x": 1}',
        "misfire": "once",
        "overlap": "allow",
        "description": "every hour",
        "enabled": "on",
    }
    return {**fields, **changes}


@pytest.mark.parametrize("path", ["/", "/schedules/", "/schedules/+new", "/scheduler", "/rq/", "/login"])
def test_pages_render(client: FlaskClient, path: str) -> None:
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 200
    assert "text/html" in response.headers["Content-Type"]


def test_overview_shows_queues_and_failures(client: FlaskClient, connection: redis.Redis) -> None:
    enqueue(connection, EnqueueRequest("demo.fail", kwargs={"message": EVIL}, job_id="boom"))
    enqueue(connection, EnqueueRequest("demo.echo", args=["x"]))
    SimpleWorker(
        [make_queue("default", connection)], connection=connection, serializer=JSONFirstSerializer
    ).work(burst=True)
    html = client.get("/").get_data(as_text=True)
    assert "failures in 24 h" in html
    assert 'href="/jobs/boom"' in html
    assert EVIL not in html


def test_schedule_pages_escape_user_text(client: FlaskClient, store: ScheduleStore) -> None:
    add_schedule(store, description=EVIL)
    for path in ("/schedules/", "/schedules/nightly", "/schedules/nightly/edit"):
        html = client.get(path).get_data(as_text=True)
        assert EVIL not in html, path
        assert "&lt;script&gt;" in html, path


def test_job_page_escapes_the_exception(client: FlaskClient, connection: redis.Redis) -> None:
    enqueue(connection, EnqueueRequest("demo.fail", kwargs={"message": EVIL}, job_id="boom"))
    SimpleWorker(
        [make_queue("default", connection)], connection=connection, serializer=JSONFirstSerializer
    ).work(burst=True)
    html = client.get("/jobs/boom").get_data(as_text=True)
    assert "RuntimeError" in html
    assert EVIL not in html and "&lt;script&gt;alert" in html


def test_create_schedule_with_the_form(client: FlaskClient, store: ScheduleStore) -> None:
    csrf = csrf_of(client, "/schedules/+new")
    response = client.post("/schedules/+new", data=form_fields(csrf))
    assert response.status_code == 302 and response.headers["Location"] == "/schedules/hourly"
    saved = store.get("hourly")
    assert saved.cron == "0 * * * *" and saved.kwargs == {"x": 1} and saved.timezone == "Europe/Berlin"
    detail = client.get("/schedules/hourly").get_data(as_text=True)
    assert "Next 10 runs" in detail and "Europe/Berlin" in detail


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cron": "0 0 31 2 *"}, "never fires"),
        ({"kwargs": "{oops"}, "not valid JSON"),
        ({"timezone": "Mars/Base"}, "unknown time zone"),
        ({"name": "no spaces"}, "not allowed"),
    ],
)
def test_form_errors_keep_the_input_and_write_nothing(
    client: FlaskClient, connection: redis.Redis, changes: dict[str, str], message: str
) -> None:
    csrf = csrf_of(client, "/schedules/+new")
    before = connection.dbsize()
    response = client.post("/schedules/+new", data=form_fields(csrf, **changes))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert connection.dbsize() == before


def test_toggle_run_edit_delete(client: FlaskClient, store: ScheduleStore) -> None:
    add_schedule(store)
    csrf = csrf_of(client, "/schedules/")
    assert client.post("/schedules/nightly/toggle", data={"csrf_token": csrf}).status_code == 302
    assert store.get("nightly").enabled is False
    assert client.post("/schedules/nightly/run", data={"csrf_token": csrf}).status_code == 302
    assert len(store.history("nightly")) == 1
    edited = client.post(
        "/schedules/nightly/edit", data=form_fields(csrf, name="ignored", cron="15 4 * * *", enabled="on")
    )
    assert edited.status_code == 302
    assert store.get("nightly").cron == "15 4 * * *" and store.get("nightly").enabled
    assert client.post("/schedules/nightly/delete", data={"csrf_token": csrf}).status_code == 302
    assert store.find("nightly") is None


def test_forms_refuse_missing_csrf(client: FlaskClient, store: ScheduleStore) -> None:
    add_schedule(store)
    assert client.post("/schedules/nightly/toggle").status_code == 403
    assert client.post("/schedules/nightly/delete", data={"csrf_token": "forged"}).status_code == 403
    assert store.get("nightly").enabled is True


def test_no_state_change_on_get(client: FlaskClient, store: ScheduleStore) -> None:
    add_schedule(store)
    for path in ("/schedules/nightly/toggle", "/schedules/nightly/run", "/schedules/nightly/delete"):
        assert client.get(path).status_code == 405
    assert client.get("/scheduler/pause").status_code == 405
    assert store.get("nightly").enabled and store.history("nightly") == []


def test_unknown_things_are_404_pages(client: FlaskClient) -> None:
    for path in ("/schedules/missing", "/jobs/missing", "/jobs/bad%20id", "/nowhere"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["Content-Type"]


def test_a_schedule_named_new_has_its_own_page(client: FlaskClient, store: ScheduleStore) -> None:
    add_schedule(store, name="new", description="named new")
    page = client.get("/schedules/new")
    assert page.status_code == 200
    assert "named new" in page.get_data(as_text=True)
    assert client.get("/schedules/+new").status_code == 200
