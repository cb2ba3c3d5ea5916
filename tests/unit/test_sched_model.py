"""Schedule validation, its dict form, and the TOML round trip, without Redis."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from rqstack.errors import BadInput, InvalidCron, InvalidParams, UnknownJob
from rqstack.sched.filesync import export_toml, file_owner
from rqstack.sched.model import Schedule, describe_timing
from rqstack.worker.jobs.registry import load_jobs


@pytest.fixture(autouse=True)
def _jobs() -> None:
    load_jobs()


def test_valid_schedule_returns_the_job_a_fire_enqueues() -> None:
    schedule = Schedule(
        "nightly", "demo.add", cron="0 3 * * *", timezone="Asia/Seoul", kwargs={"a": 1, "b": 2}
    )
    prepared = schedule.validate()
    assert prepared.definition.name == "demo.add" and prepared.queue == "default"
    assert prepared.meta["rqstack_schedule"] == "nightly"
    assert describe_timing(schedule) == "cron 0 3 * * * (Asia/Seoul)"


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"job": "nope"}, UnknownJob, "no job is registered as 'nope'"),
        ({"cron": "0 0 31 2 *"}, InvalidCron, "never fires"),
        ({"cron": "0 25 * * *"}, InvalidCron, "hour field"),
        ({"cron": None}, BadInput, "exactly one of cron or every"),
        ({"every": 60.0}, BadInput, "exactly one of cron or every"),
        ({"timezone": "Europe/Atlantis"}, BadInput, "unknown time zone"),
        ({"kwargs": {"a": "x", "b": 1}}, InvalidParams, "parameter 'a' must be float"),
        ({"kwargs": {"c": 1}}, InvalidParams, "the schedule was not saved"),
        ({"misfire": "later"}, BadInput, "use one of skip, once, all"),
        ({"overlap": "queue"}, BadInput, "use one of allow, skip"),
        ({"name": "no spaces"}, BadInput, "letters, digits"),
        ({"name": "n" * 101}, BadInput, "at most 100"),
        ({"owner": "someone"}, BadInput, "owner"),
        ({"retry": 500}, BadInput, "retry must be between"),
    ],
)
def test_invalid_schedules_name_the_fix(changes: dict[str, Any], error: type[Exception], words: str) -> None:
    base = Schedule("nightly", "demo.add", cron="0 3 * * *", kwargs={"a": 1, "b": 2})
    with pytest.raises(error, match=words):
        base.replace(**changes).validate()


def test_every_must_be_whole_seconds() -> None:
    with pytest.raises(BadInput, match="whole number of seconds"):
        Schedule("x", "demo.echo", every=1.5).validate()
    Schedule("x", "demo.echo", every=90).validate()


def test_from_dict_reads_durations_and_rejects_unknown_fields() -> None:
    schedule = Schedule.from_dict(
        {"name": "a", "job": "demo.echo", "every": "10m", "timeout": "5m", "retry_interval": "30s,2m"},
        default_timezone="Europe/Berlin",
    )
    assert (schedule.every, schedule.timeout, schedule.retry_interval) == (600.0, 300.0, (30.0, 120.0))
    assert schedule.timezone == "Europe/Berlin"
    with pytest.raises(BadInput, match="unknown schedule field"):
        Schedule.from_dict({"name": "a", "job": "demo.echo", "every": "1m", "colour": "red"})
    with pytest.raises(BadInput, match="must be true or false"):
        Schedule.from_dict({"name": "a", "job": "demo.echo", "every": "1m", "enabled": "yes"})


def test_as_dict_round_trips() -> None:
    schedule = Schedule("a", "demo.echo", every=60, args=(1, "two"), retry=2, retry_interval=(5.0,))
    assert Schedule.from_dict(schedule.as_dict()) == schedule


def test_toml_export_reads_back_to_the_same_definitions() -> None:
    owner = file_owner("deploy/schedules.toml")
    schedules = [
        Schedule(
            "nightly",
            "demo.add",
            cron="0 3 * * *",
            timezone="Asia/Seoul",
            kwargs={"a": 1, "b": 2.5},
            retry=3,
            retry_interval=(300.0,),
            timeout=600.0,
            owner=owner,
        ),
        Schedule(
            "ping",
            "demo.echo",
            every=30,
            args=("x", [1, 2], {"k v": True}),
            enabled=False,
            misfire="all",
            misfire_grace=0,
            overlap="skip",
            description='say "hi"',
            owner=owner,
        ),
    ]
    parsed = tomllib.loads(export_toml(schedules))["schedule"]
    again = [Schedule.from_dict({**entry, "owner": owner}) for entry in parsed]
    assert [s.definition() for s in again] == [s.definition() for s in schedules]
