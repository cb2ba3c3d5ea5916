"""Jobs are registered by name and their parameters checked before anything is queued."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from rqstack.constants import MAX_ARGUMENTS_BYTES
from rqstack.errors import ConfigError, InvalidParams, UnknownJob
from rqstack.worker.jobs.registry import get_job, job, load_jobs, registered_jobs


@job("test.typed", queue="reports", timeout="10m", retry=3, retry_interval="30s,2m")
def typed(
    count: int,
    ratio: float = 0.5,
    name: str = "x",
    flag: bool = False,
    tags: list[str] | None = None,
    mode: Literal["fast", "slow"] = "fast",
    options: dict[str, int] | None = None,
) -> None:
    """A job with one parameter of each kind."""


def test_decorator_records_defaults() -> None:
    definition = get_job("test.typed")
    assert definition.queue == "reports"
    assert definition.timeout == 600
    assert definition.retry == 3
    assert definition.retry_intervals == (30, 120)
    assert definition.description == "A job with one parameter of each kind."
    assert definition.import_path == f"{__name__}.typed"


def test_valid_arguments_pass() -> None:
    args, kwargs = get_job("test.typed").validate(
        [3], {"ratio": 1, "tags": ["a"], "mode": "slow", "options": {"a": 1}, "flag": True}
    )
    assert args == [3]
    assert kwargs["ratio"] == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        (["3"], {}, "count"),
        ([True], {}, "count"),
        ([1.5], {}, "count"),
        ([1], {"ratio": "high"}, "ratio"),
        ([1], {"flag": 1}, "flag"),
        ([1], {"tags": "a"}, "tags"),
        ([1], {"tags": [1]}, "tags"),
        ([1], {"mode": "medium"}, "mode"),
        ([1], {"options": {"a": "b"}}, "options"),
        ([], {}, "kwargs"),
        ([1, 2, 3, 4, 5, 6, 7, 8], {}, "kwargs"),
        ([1], {"unknown": 1}, "kwargs"),
    ],
)
def test_invalid_arguments_name_the_parameter(args: list[Any], kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParams) as info:
        get_job("test.typed").validate(args, kwargs)
    assert info.value.field == field
    assert "nothing was queued" in info.value.message


def test_oversize_arguments_are_refused() -> None:
    with pytest.raises(InvalidParams) as info:
        get_job("test.typed").validate([1], {"name": "x" * MAX_ARGUMENTS_BYTES})
    assert str(MAX_ARGUMENTS_BYTES) in info.value.message


def test_non_json_arguments_are_refused() -> None:
    with pytest.raises(InvalidParams):
        get_job("test.typed").validate([1], {"name": float("nan")})


def test_unknown_job_lists_known_names() -> None:
    load_jobs()
    with pytest.raises(UnknownJob) as info:
        get_job("nope")
    assert "demo.echo" in info.value.message
    assert "RQSTACK_JOBS" in info.value.message


def test_builtin_demo_jobs_are_registered() -> None:
    load_jobs()
    names = {d.name for d in registered_jobs()}
    assert {"demo.echo", "demo.sleep", "demo.fail", "demo.add"} <= names


def test_unimportable_user_module_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_jobs(["no_such_module_here"])
    assert info.value.field == "RQSTACK_JOBS"


@pytest.mark.parametrize("name", ["", "has space", "semi;colon", "x" * 129, "ünï"])
def test_bad_job_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        job(name)


def test_same_name_for_another_function_is_refused() -> None:
    def other() -> None:
        """Another function."""

    other.__qualname__ = "other"
    with pytest.raises(ConfigError):
        job("test.typed")(other)


def test_nested_functions_cannot_be_jobs() -> None:
    def nested() -> None:
        """Defined in a function."""

    with pytest.raises(ConfigError):
        job("test.nested")(nested)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"delay": 1e300}, "longer than 10 years"),
        ({"delay": -1}, "cannot be negative"),
        ({"delay": float("nan")}, "cannot be negative"),
        ({"timeout": float("inf")}, "longer than 10 years"),
        ({"timeout": 0}, "must be positive"),
    ],
)
def test_python_api_durations_follow_the_same_rules(changes: dict[str, float], needle: str) -> None:
    from rqstack.errors import BadInput
    from rqstack.worker.enqueue import EnqueueRequest, prepare

    load_jobs()
    with pytest.raises(BadInput) as info:
        prepare(EnqueueRequest("demo.echo", **changes))  # type: ignore[arg-type]
    assert needle in info.value.message
