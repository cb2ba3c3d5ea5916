"""A real `rqstack dashboard` with RQSTACK_DASHBOARD_TOKEN set: unauthenticated, cross-origin and
GET-mutation attempts are refused and change nothing; stored XSS payloads (a schedule description, a
job argument, a job exception) stay inert text in our pages and in rq-dashboard's, also in Chromium.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Dialog, sync_playwright

from chaos.conftest import Fleet, Reply, Session, chaos_env, http, snapshot, start_dashboard, wait_for
from rqstack.dashboard.throttle import MAX_FAILURES
from servers import RedisServer

pytestmark = pytest.mark.timeout(120)

TOKEN = "chaos-dashboard-token"
PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
CHROMIUM = "/usr/bin/chromium"


@dataclass
class Site:
    """The dashboard's URL, its Redis and the ids of the seeded jobs."""

    base: str
    client: redis.Redis
    echo_job: str
    failed_job: str
    fleet: Fleet


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Dashboard with a token; a schedule, a finished and a failed job that all carry XSS payloads."""
    base_dir = tmp_path_factory.mktemp("dashboard-security")
    server = RedisServer(base_dir / "redis")
    server.start()
    (base_dir / "logs").mkdir()
    env = chaos_env(server.url, base_dir / "data", RQSTACK_DASHBOARD_TOKEN=TOKEN)
    fleet = Fleet(env, base_dir / "logs")
    try:
        base = start_dashboard(fleet)
        text = " ".join(PAYLOADS)
        seeded = [
            http(
                "POST",
                base + "/api/schedules",
                token=TOKEN,
                json_body={
                    "name": "xss",
                    "job": "demo.echo",
                    "cron": "0 3 * * *",
                    "description": text,
                    "args": [text],
                },
            ),
            http("POST", base + "/api/jobs", token=TOKEN, json_body={"job": "demo.echo", "args": [text]}),
            http(
                "POST",
                base + "/api/jobs",
                token=TOKEN,
                json_body={"job": "demo.fail", "kwargs": {"message": text}},
            ),
        ]
        assert [r.status for r in seeded] == [201, 201, 201], [r.text for r in seeded]
        burst = subprocess.run(
            [sys.executable, "-m", "rqstack", "worker", "--burst"], env=env, capture_output=True, timeout=60
        )
        assert burst.returncode == 0, burst.stderr
        client = server.client()
        site = Site(base, client, seeded[1].json()["id"], seeded[2].json()["id"], fleet)
        assert client.hget(f"rq:job:{site.failed_job}", "status") == b"failed"
        yield site
    finally:
        fleet.stop_all()
        print(fleet.log_tail())
        server.stop()


def logged_in(site: Site) -> Session:
    """A session that passed the login form."""
    session = Session(site.base)
    session.login(TOKEN)
    return session


def assert_login_redirect(reply: Reply) -> None:
    """A page asked for without a session answers with the login form's address, nothing else."""
    assert reply.status == 302, (reply.status, reply.text[:300])
    assert reply.headers["Location"].startswith("/login?next="), reply.headers["Location"]
    assert not any(p in reply.text for p in PAYLOADS)


PROGRAM_ROUTES = [
    ("GET", "/api/status"),
    ("GET", "/api/schedules"),
    ("GET", "/api/schedules/xss"),
    ("GET", "/api/jobs/registered"),
    ("POST", "/api/jobs"),
    ("POST", "/api/schedules/xss/run"),
    ("DELETE", "/api/schedules/xss"),
    ("POST", "/api/scheduler/pause"),
    ("GET", "/metrics"),
]


def test_api_without_a_bearer_is_401_and_changes_nothing(site: Site) -> None:
    before = snapshot(site.client)
    for method, path in PROGRAM_ROUTES:
        body = '{"job": "demo.echo"}' if method == "POST" else None
        reply = http(method, site.base + path, body=body, headers={"Content-Type": "application/json"})
        assert reply.status == 401, (method, path, reply.status, reply.text[:300])
        assert "xss" not in reply.text
    assert snapshot(site.client) == before
    assert http("GET", site.base + "/api/health").status == 200
    assert http("GET", site.base + "/api/status", token=TOKEN).status == 200


def test_wrong_bearers_are_401_then_throttled_and_change_nothing(site: Site) -> None:
    # A dashboard of its own: the lockout of 127.0.0.1 must not spill into the other tests.
    base = start_dashboard(site.fleet)
    before = snapshot(site.client)
    statuses = []
    for bearer in ("wrong-token", TOKEN + "x", TOKEN[:-1], "Bearer " + TOKEN):
        for method, path in PROGRAM_ROUTES:
            body = '{"job": "demo.echo"}' if method == "POST" else None
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
            reply = http(method, base + path, body=body, headers=headers)
            statuses.append(reply.status)
            assert "xss" not in reply.text
    assert snapshot(site.client) == before
    assert statuses[:MAX_FAILURES] == [401] * MAX_FAILURES, statuses
    assert set(statuses[MAX_FAILURES:]) == {429}, statuses


def test_pages_and_rq_dashboard_redirect_to_login(site: Site) -> None:
    before = snapshot(site.client)
    for path in (
        "/",
        "/schedules/",
        "/schedules/xss",
        f"/jobs/{site.echo_job}",
        "/scheduler",
        "/rq/",
        "/rq/0/view/jobs",
        "/rq/0/view/workers",
        f"/rq/0/view/job/{site.failed_job}",
        "/rq/0/data/queues.json",
        "/rq/0/data/jobs/default/failed/8/asc/1.json",
        f"/rq/0/data/job/{site.failed_job}.json",
        "/rq/requeue/default",
    ):
        assert_login_redirect(http("GET", site.base + path))
    for path in (
        "/rq/requeue/default",
        f"/rq/job/{site.failed_job}/requeue",
        "/rq/queue/default/failed/empty",
    ):
        assert http("POST", site.base + path).status in (302, 401, 403)
    assert snapshot(site.client) == before


def test_cross_origin_and_csrf_less_writes_are_403(site: Site) -> None:
    before = snapshot(site.client)
    job = {"job": "demo.echo", "args": ["x"]}
    for header in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Referer": "http://evil.example/page"},
    ):
        reply = http("POST", site.base + "/api/jobs", json_body=job, token=TOKEN, headers=header)
        assert reply.status == 403, (header, reply.status, reply.text[:300])
    session = logged_in(site)
    csrf = {"X-CSRF-Token": session.csrf}
    attempts = [
        ("POST", "/api/scheduler/pause", {}, {}),
        ("POST", "/api/scheduler/pause", {"Origin": "http://evil.example", **csrf}, {}),
        ("POST", "/schedules/xss/delete", {}, {}),
        ("POST", "/schedules/xss/delete", {"Origin": "http://evil.example"}, {"csrf_token": session.csrf}),
        ("POST", "/rq/requeue/default", {}, {}),
        ("POST", f"/rq/job/{site.failed_job}/delete", {"Sec-Fetch-Site": "cross-site", **csrf}, {}),
        ("POST", "/logout", {"Origin": "http://evil.example"}, {"csrf_token": session.csrf}),
    ]
    for method, path, headers, form in attempts:
        reply = session.request(method, path, headers=headers, form=form or None)
        assert reply.status == 403, (path, headers, reply.status, reply.text[:300])
    assert snapshot(site.client) == before
    # The same session with its token and no foreign origin may write: the refusals above were the guards.
    allowed = session.request("POST", "/api/scheduler/pause", headers=csrf)
    assert allowed.status == 200, allowed.text[:300]
    assert session.request("POST", "/api/scheduler/resume", headers=csrf).status == 200


def test_get_on_mutating_rq_dashboard_routes_does_nothing(site: Site) -> None:
    session = logged_in(site)
    before = snapshot(site.client)
    for path in (
        "/rq/requeue/default",
        "/rq/requeue/failed",
        f"/rq/job/{site.failed_job}/requeue",
        f"/rq/job/{site.failed_job}/delete",
        "/rq/queue/default/failed/empty",
        "/rq/queue/default/compact",
    ):
        reply = session.request("GET", path)
        assert reply.status in (404, 405), (path, reply.status, reply.text[:300])
    assert snapshot(site.client) == before
    assert site.client.hget(f"rq:job:{site.failed_job}", "status") == b"failed"


HTML_PAGES = [
    "/",
    "/schedules/",
    "/schedules/xss",
    "/schedules/xss/edit",
    "/jobs/{echo}",
    "/jobs/{failed}",
    "/rq/",
    "/rq/0/view/workers",
    "/rq/0/view/jobs",
    "/rq/0/view/jobs/default/failed/8/asc/1",
    "/rq/0/view/jobs/default/finished/8/asc/1",
    "/rq/0/view/job/{failed}",
    "/rq/0/view/job/{echo}",
]


def test_stored_xss_is_escaped_in_every_html_page(site: Site) -> None:
    session = logged_in(site)
    seen_escaped = 0
    for template in HTML_PAGES:
        path = template.format(echo=site.echo_job, failed=site.failed_job)
        reply = session.request("GET", path)
        assert reply.status == 200, (path, reply.status)
        assert reply.headers["Content-Type"].startswith("text/html"), path
        for payload in PAYLOADS:
            assert payload not in reply.text, (path, payload)
        assert "<%=" not in reply.text, f"{path}: rq-dashboard template prints raw HTML"
        seen_escaped += "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.text
    assert seen_escaped >= 4, "the payloads were not shown at all, so escaping was not tested"
    for path in (f"/rq/0/data/job/{site.failed_job}.json", "/rq/0/data/jobs/default/failed/8/asc/1.json"):
        reply = session.request("GET", path)
        assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json"), path


def test_stored_xss_does_not_run_in_chromium(site: Site) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser`"
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(base_url=site.base)
            page.set_default_timeout(15_000)
            page.on("dialog", on_dialog)
            page.goto("/login")
            page.fill("#password", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(site.base + "/")
            for template in HTML_PAGES:
                path = template.format(echo=site.echo_job, failed=site.failed_job)
                page.goto(path)
                if path.startswith("/rq/0/view/jobs/default/failed"):
                    # rq-dashboard fills its tables from JSON with its own templates: wait for the row.
                    wait_for(lambda: "alert(1)" in page.inner_text("body"), 15, "the failed job's row")
                page.wait_for_timeout(300)
                assert page.evaluate("document.querySelectorAll('img[src=x]').length") == 0, path
        finally:
            browser.close()
    assert dialogs == [], dialogs
