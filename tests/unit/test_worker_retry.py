"""Retry specs, backoff delays, unique keys and worker options: pure functions, no Redis."""

from __future__ import annotations

import random

import pytest

from rqstack.errors import BadInput, ConfigError
from rqstack.worker.enqueue import EnqueueRequest, default_unique_key, prepare
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.options import WorkerOptions
from rqstack.worker.retry import RETRY_META_KEY, RetryPolicy, next_retry_delay, parse_retry_spec


@pytest.mark.parametrize(
    ("spec", "delays"),
    [
        ("30s,2m", [30.0, 120.0, 120.0]),
        ("0", [0.0, 0.0]),
        ("1.5s", [1.5, 1.5]),
        (None, [0.0]),
        (["1s", 2], [1.0, 2.0, 2.0]),
    ],
)
def test_fixed_intervals_repeat_the_last_one(spec: object, delays: list[float]) -> None:
    policy = parse_retry_spec(spec)  # type: ignore[arg-type]
    assert [policy.delay(n) for n in range(len(delays))] == delays


def test_exponential_backoff_doubles_to_the_cap_with_jitter() -> None:
    policy = parse_retry_spec("exp:10s:1m")
    assert policy == RetryPolicy(backoff_base=10.0, backoff_max=60.0)
    rng = random.Random(1)
    for attempt, ceiling in enumerate([10, 20, 40, 60, 60]):
        delay = policy.delay(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling
    assert parse_retry_spec("backoff:1m").backoff_max == 3600.0
    assert parse_retry_spec(policy.spec()) == policy


@pytest.mark.parametrize("spec", ["exp:", "exp:1s:2s:3s", "soon", "exp:fast", "-5s"])
def test_bad_specs_name_the_grammar(spec: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_retry_spec(spec)
    assert caught.value.field == "retry_interval"


def test_rq_intervals_give_stock_workers_whole_seconds() -> None:
    assert RetryPolicy((1.4, 2.6)).rq_intervals(3) == [1, 3]
    assert RetryPolicy(backoff_base=1.0, backoff_max=5.0).rq_intervals(4) == [1, 2, 4, 5]


def test_next_retry_delay_numbers_attempts_from_the_meta_record() -> None:
    meta = {RETRY_META_KEY: RetryPolicy((1.0, 5.0, 9.0)).as_meta(3)}
    assert [next_retry_delay(meta, None, left) for left in (3, 2, 1)] == [1.0, 5.0, 9.0]


def test_next_retry_delay_follows_rq_for_stock_jobs() -> None:
    # RQ indexes retry_intervals by max(len - retries_left, 0).
    assert next_retry_delay({}, [10, 20], 3) == 10.0
    assert next_retry_delay({}, [10, 20], 1) == 20.0
    assert next_retry_delay({}, None, 2) == 0.0


def test_prepare_stores_the_policy_and_unique_key_in_meta() -> None:
    load_jobs()
    prepared = prepare(
        EnqueueRequest("demo.add", args=[1, 2], retry=2, retry_intervals="exp:1s:4s", unique=True)
    )
    assert prepared.meta[RETRY_META_KEY] == {"max": 2, "backoff": [1.0, 4.0]}
    assert prepared.retry_intervals == (1.0, 2.0)
    assert prepared.unique_key == default_unique_key("demo.add", [1, 2], {})
    with_id = prepare(EnqueueRequest("demo.add", args=[1, 2], job_id="crawl-1", unique=True))
    assert with_id.unique_key == "id:crawl-1"
    explicit = prepare(EnqueueRequest("demo.add", args=[1, 2], unique_key="crawl:user-42"))
    assert explicit.unique_key == "crawl:user-42"


def test_default_unique_key_ignores_kwarg_order() -> None:
    assert default_unique_key("j", [1], {"a": 1, "b": 2}) == default_unique_key("j", [1], {"b": 2, "a": 1})
    assert default_unique_key("j", [1], {}) != default_unique_key("j", [2], {})


def test_options_refuse_a_ttl_that_would_reap_live_jobs() -> None:
    assert WorkerOptions.from_env(
        {"RQSTACK_WORKER_HEARTBEAT": "1s", "RQSTACK_WORKER_HEARTBEAT_TTL": "3s"}
    ) == (WorkerOptions(heartbeat=1.0, heartbeat_ttl=3.0))
    with pytest.raises(ConfigError, match="less than twice"):
        WorkerOptions.from_env({}, heartbeat=5.0, heartbeat_ttl=6.0)
