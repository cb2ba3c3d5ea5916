"""The dashboard in Debian's Chromium against real `rqstack dashboard`, `scheduler` and `worker` processes.

Screenshots of the main pages are taken on every run; with RQSTACK_UPDATE_SCREENSHOTS=1 they replace
the README's images in docs/screenshots/ (otherwise they stay in the test's temporary directory).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
import redis
from playwright.sync_api import Browser, Page, expect, sync_playwright

from rqstack.connection import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "browser-test-token"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
XSS = "<img src=x onerror=\"window.__xss='hit'\"><script>window.__xss='hit'</script>"


class RedisServerLike(Protocol):
    """What this module needs of the session's ``redis_server`` fixture (tests/conftest.py)."""

    url: str

    def client(self) -> redis.Redis: ...


@dataclass
class Stack:
    """A dashboard, a scheduler and a worker on one redis-server."""

    url: str
    env: dict[str, str]
    logs: Path

    def api(self, method: str, path: str, body: object = None) -> dict[str, object]:
        """Call the API with the bearer token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {TOKEN}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, object] = json.loads(response.read() or b"{}")
            return result


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def healthy(url: str) -> bool:
    """True when the dashboard answers /api/health."""
    try:
        with urllib.request.urlopen(url + "/api/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def stack(redis_server: RedisServerLike, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Real processes: redis-server and `rqstack dashboard` (token set), `scheduler` and `worker`."""
    base = tmp_path_factory.mktemp("browser")
    admin = redis_server.client()
    admin.flushall()
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "RQSTACK_DATA_DIR": str(base / "data"),
        "RQSTACK_DASHBOARD_TOKEN": TOKEN,
        "PYTHONUNBUFFERED": "1",
    }
    commands = {
        "dashboard": ["dashboard", "--port", str(port)],
        "scheduler": ["scheduler"],
        "worker": ["worker"],
    }
    processes = []
    for name, args in commands.items():
        with (base / f"{name}.log").open("w") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "rqstack", *args],
                    env=env,
                    cwd=base,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), 30, "the dashboard to answer")
        yield Stack(url, env, base)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        admin.flushall()
        admin.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (never a downloaded browser)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A logged-in tab; every confirm() is accepted; console errors from CSP fail the test."""
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("dialog", lambda dialog: dialog.accept())
    csp_errors: list[str] = []
    tab.on(
        "console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    tab.goto("/")
    expect(tab).to_have_url(f"{stack.url}/login?next=/")
    tab.fill("#password", TOKEN)
    tab.click("button[type=submit]")
    expect(tab.locator("h1")).to_have_text("Overview")
    yield tab
    context.close()
    assert csp_errors == []


def shot(page: Page, name: str, stack: Stack) -> None:
    """Save a full-page screenshot (into docs/screenshots/ when RQSTACK_UPDATE_SCREENSHOTS=1)."""
    folder = (
        SCREENSHOTS if os.environ.get("RQSTACK_UPDATE_SCREENSHOTS") == "1" else stack.logs / "screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_schedule_lifecycle_in_the_browser(page: Page, stack: Stack) -> None:
    page.click("text=Schedules")
    page.click("text=New schedule")
    page.fill("#name", "report-every-2s")
    page.select_option("#job", "demo.sleep")
    page.fill("#cron", "*/2 * * * * *")
    page.fill("#timezone", "Asia/Seoul")
    page.fill("#kwargs", '{"seconds": 0.3, "steps": 3}')
    page.fill("#description", "Builds the sales report every two seconds (a demo that sleeps 0.3 s)")
    expect(page.locator("#cron-preview li")).to_have_count(5)
    expect(page.locator("#cron-preview")).to_contain_text("+09:00")
    page.fill("#cron", "0 0 31 2 *")
    expect(page.locator("#cron-preview")).to_contain_text("never fires")
    page.fill("#cron", "*/2 * * * * *")
    expect(page.locator("#cron-preview li")).to_have_count(5)
    shot(page, "new-schedule", stack)
    page.click("button:has-text('Create schedule')")
    expect(page.locator("h1")).to_have_text("report-every-2s")

    # The scheduler fires it and the worker runs it: runs appear in the history with durations.
    def finished_runs() -> int:
        page.reload()
        return page.locator("#runs .badge-finished").count()

    wait_for(lambda: finished_runs() >= 3, 30, "three finished runs in the history")
    page.click("button:has-text('Run now')")
    expect(page.locator(".flash")).to_contain_text("queued")
    expect(page.locator("#runs")).to_contain_text("(run now)")
    manual = page.locator("#runs tr:has-text('(run now)')")

    def manual_run_finished() -> bool:
        page.reload()
        return manual.locator(".badge-finished").count() == 1

    wait_for(manual_run_finished, 20, "the manual run to finish")
    expect(page.locator(".chart rect.bar-ok").first).to_be_visible()
    shot(page, "schedule-detail", stack)

    for name, cron, zone, words in (
        ("nightly-backup", "0 3 * * *", "Asia/Seoul", "Dump the orders database and keep 14 days"),
        ("weekly-cleanup", "30 4 * * 0", "Europe/Berlin", "Remove finished jobs older than a week"),
    ):
        body = {"name": name, "job": "demo.echo", "cron": cron, "timezone": zone, "description": words}
        stack.api("POST", "/api/schedules", body)
    stack.api("PATCH", "/api/schedules/weekly-cleanup", {"enabled": False})
    page.click("text=Schedules")
    row = page.locator("tr[data-schedule='report-every-2s']")
    expect(row.locator(".switch")).to_have_attribute("aria-checked", "true")
    shot(page, "schedules", stack)
    switch = "tr[data-schedule='report-every-2s'] .switch"
    page.click(switch)
    expect(page.locator(switch)).to_have_attribute("aria-checked", "false")
    assert stack.api("GET", "/api/schedules/report-every-2s")["enabled"] is False
    page.click(switch)
    expect(page.locator(switch)).to_have_attribute("aria-checked", "true")
    assert stack.api("GET", "/api/schedules/report-every-2s")["enabled"] is True


def test_cancel_a_running_job_from_its_page(page: Page, stack: Stack) -> None:
    job = stack.api("POST", "/api/jobs", {"job": "demo.sleep", "kwargs": {"seconds": 20, "steps": 40}})
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#job-status")).to_contain_text("started", timeout=20_000)
    wait_for(
        lambda: float(page.locator("#job-progress").get_attribute("value") or 0) > 20, 20, "progress to move"
    )
    expect(page.locator("#job-progress-message")).to_contain_text("sleeping")
    shot(page, "job", stack)
    page.click("button:has-text('Cancel job')")
    expect(page.locator("#job-status")).to_contain_text(re.compile("stopped|canceled|failed"), timeout=20_000)
    expect(page.locator("#cancel-form")).to_be_hidden()


def failed_job(stack: Stack, message: str) -> str:
    """Enqueue demo.fail and wait until the worker has failed it."""
    job_id = str(stack.api("POST", "/api/jobs", {"job": "demo.fail", "kwargs": {"message": message}})["id"])
    wait_for(lambda: stack.api("GET", f"/api/jobs/{job_id}")["status"] == "failed", 20, "the job to fail")
    return job_id


def test_overview(page: Page, stack: Stack) -> None:
    failed_job(stack, "disk full on /var/backups")
    page.goto("/")
    expect(page.locator(".tile-bad .tile-value")).not_to_have_text("0")
    expect(page.locator("text=disk full")).to_be_visible()
    shot(page, "overview", stack)


def test_pause_and_resume_the_scheduler(page: Page, stack: Stack) -> None:
    page.click("nav >> text=Scheduler")
    expect(page.locator("main .badge").first).to_have_text("running")
    page.click("button:has-text('Pause')")
    expect(page.locator("main .badge").first).to_have_text("paused")
    assert stack.api("GET", "/api/scheduler")["paused"] is True
    page.click("button:has-text('Resume')")
    expect(page.locator("main .badge").first).to_have_text("running")
    page.goto("/scheduler")
    shot(page, "scheduler", stack)
    page.goto("/rq/0/view/jobs/default/finished/8/asc/1")
    expect(page.locator("#jobs tr[data-role=job]").first).to_be_visible()


def test_user_text_is_escaped_on_every_page(page: Page, stack: Stack) -> None:
    stack.api(
        "POST", "/api/schedules", {"name": "xss", "job": "demo.echo", "cron": "@daily", "description": XSS}
    )
    for path in ("/schedules/", "/schedules/xss", "/schedules/xss/edit"):
        page.goto(path)
        expect(page.locator("main")).to_contain_text("<script>window.__xss")
    stack.api("DELETE", "/api/schedules/xss")
    failed = {"id": failed_job(stack, XSS)}
    page.goto("/")
    expect(page.locator("main")).to_contain_text("<img src=x")
    page.goto(f"/jobs/{failed['id']}")
    expect(page.locator("#job-error")).to_contain_text("<img src=x")
    page.goto(f"/rq/0/view/job/{failed['id']}")
    expect(page.locator(".exc_info")).to_contain_text("<img src=x")
    page.goto("/rq/0/view/jobs/default/failed/8/asc/1")
    expect(page.locator(f"#jobs tr[data-job-id='{failed['id']}'] .exc_info")).to_contain_text("<script>")
    page.goto("/rq/0/view/workers")
    expect(page.locator("body")).to_contain_text("worker")
    assert page.evaluate("window.__xss") is None
    # rq-dashboard's own requeue button works through our CSRF header.
    page.goto("/rq/0/view/jobs/default/failed/8/asc/1")
    page.click("#requeue-all-btn")
    with page.expect_response(lambda response: "/rq/requeue/default" in response.url) as answer:
        page.click("#confirmation-modal-yes")
    assert answer.value.status == 200 and answer.value.request.method == "POST"
