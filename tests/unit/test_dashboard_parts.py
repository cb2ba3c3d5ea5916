"""Pure parts of the dashboard: chart geometry, form parsing, redirects, exposure check, OpenAPI shape."""

from __future__ import annotations

import pytest

from rqstack.dashboard.auth import safe_next
from rqstack.dashboard.charts import HEIGHT, MIN_SLOTS, WIDTH, duration_chart
from rqstack.dashboard.forms import form_values, schedule_data
from rqstack.dashboard.openapi import openapi_document
from rqstack.dashboard.server import check_exposure
from rqstack.dashboard.throttle import FailureThrottle
from rqstack.dashboard.views import duration_text, when
from rqstack.errors import BadInput, ConfigError
from rqstack.sched.model import Schedule
from rqstack.settings import Settings


def test_chart_scales_to_the_longest_run_and_puts_the_newest_right() -> None:
    runs = [  # newest first, as the history stores them
        {"status": "failed", "duration": 1.0},
        {"status": "finished", "duration": 2.0},
        {"status": "missed"},
    ]
    chart = duration_chart(runs)
    oldest, middle, newest = chart.bars
    assert [b.status for b in chart.bars] == ["bad", "ok", "bad"]
    assert middle.y == 10 and middle.height == HEIGHT - 10  # the longest run reaches the top margin
    assert newest.height == pytest.approx((HEIGHT - 10) / 2)
    assert oldest.height > 0  # a run without duration still shows
    assert newest.x + newest.width <= WIDTH and newest.x > WIDTH - WIDTH / MIN_SLOTS
    assert chart.max_seconds == 2.0


def test_chart_of_nothing() -> None:
    assert duration_chart([]).bars == ()


def test_form_round_trip() -> None:
    schedule = Schedule.from_dict(
        {
            "name": "n",
            "job": "demo.echo",
            "every": "10m",
            "kwargs": {"a": 1},
            "retry": 2,
            "retry_interval": "30s,2m",
        }
    )
    values = form_values(schedule, "UTC")
    assert values["timing"] == "every" and values["every"] == "10m" and values["retry_interval"] == "30s,2m"
    data = schedule_data(values, "api")
    assert Schedule.from_dict(data).definition() == {**schedule.definition(), "owner": "api"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kwargs": "[1]"}, "kwargs"),
        ({"args": "{"}, "args"),
        ({"retry": "two"}, "retry"),
        ({"cron": ""}, "cron"),
    ],
)
def test_form_errors_name_the_field(changes: dict[str, str], field: str) -> None:
    values = {**form_values(None, "UTC"), "name": "n", "job": "demo.echo", **changes}
    with pytest.raises(BadInput) as caught:
        schedule_data(values, "api")
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/schedules/x?y=1", "/schedules/x?y=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_exposure_needs_a_token_beyond_loopback() -> None:
    check_exposure(Settings(dashboard_host="127.0.0.1"))
    check_exposure(Settings(dashboard_host="0.0.0.0", dashboard_token="t"))
    with pytest.raises(ConfigError):
        check_exposure(Settings(dashboard_host="0.0.0.0"))


def test_openapi_document_shape() -> None:
    document = openapi_document(["demo.echo"])
    assert document["openapi"] == "3.1.0"
    assert document["components"]["schemas"]["EnqueueRequest"]["properties"]["job"]["enum"] == ["demo.echo"]
    assert (
        openapi_document()["components"]["schemas"]["EnqueueRequest"]["properties"]["job"]["type"] == "string"
    )
    for item in document["paths"].values():
        for method, operation in item.items():
            if method != "parameters" and operation.get("security") != []:
                assert "401" in operation["responses"]


def test_time_texts() -> None:
    assert when("2026-11-25T14:12:29.385198+00:00") == "2026-11-25 14:12:29 UTC"
    assert when(None) == "—"
    assert duration_text(0.3031) == "303 ms"
    assert duration_text(12.34) == "12.3 s"
    assert duration_text(125) == "2m5s"
    assert duration_text(None) is None


def test_failure_throttle_forgets_after_the_window() -> None:
    throttle = FailureThrottle(limit=2, window=60)
    throttle.fail("a", now=0)
    assert not throttle.blocked("a", now=1)
    throttle.fail("a", now=1)
    assert throttle.blocked("a", now=2) and not throttle.blocked("b", now=2)
    assert not throttle.blocked("a", now=61.5)
