"""Fire planning with chosen times: misfire policies, DST, intervals and job ids; no Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rqstack.constants import MISFIRE_TOLERANCE_SECONDS
from rqstack.sched.firing import fire_job_id, next_after, plan_fires, upcoming
from rqstack.sched.model import Schedule

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def every_minute(**changes: object) -> Schedule:
    return Schedule("m", "demo.echo", every=60).replace(**changes)


def test_not_due_yet_plans_nothing() -> None:
    plan = plan_fires(every_minute(), T0 + timedelta(minutes=1), T0)
    assert plan.fires == () and plan.next_due == T0 + timedelta(minutes=1)


def test_on_time_fire() -> None:
    plan = plan_fires(every_minute(), T0, T0 + timedelta(milliseconds=3))
    assert plan.fires == (T0,) and plan.missed == 0 and plan.next_due == T0 + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("policy", "fires", "missed"),
    [
        # Ten minutes down, grace 30 s: the fires at +0..+10 min are late except the one at +10 min.
        ("skip", [10], 10),
        ("once", [10], 10),
        ("all", list(range(11)), 0),
    ],
)
def test_misfire_policies_with_an_on_time_fire(policy: str, fires: list[int], missed: int) -> None:
    schedule = every_minute(misfire=policy, misfire_grace=30)
    plan = plan_fires(schedule, T0, T0 + timedelta(minutes=10, seconds=10))
    assert plan.fires == tuple(T0 + timedelta(minutes=m) for m in fires)
    assert plan.missed == missed
    assert plan.next_due == T0 + timedelta(minutes=11)


@pytest.mark.parametrize(("policy", "count"), [("skip", 0), ("once", 1), ("all", 11)])
def test_misfire_policies_when_every_fire_is_late(policy: str, count: int) -> None:
    schedule = every_minute(misfire=policy, misfire_grace=5)
    plan = plan_fires(schedule, T0, T0 + timedelta(minutes=10, seconds=45))
    assert len(plan.fires) == count
    if policy == "once":
        assert plan.fires == (T0 + timedelta(minutes=10),)  # named by the latest missed fire


def test_cron_in_zone_and_dst_fall_back_fires_once() -> None:
    schedule = Schedule("nyc", "demo.echo", cron="30 1 * * *", timezone="America/New_York")
    fires = upcoming(schedule, datetime(2027, 11, 6, 12, tzinfo=UTC), 2)
    assert fires == [datetime(2027, 11, 7, 5, 30, tzinfo=UTC), datetime(2027, 11, 8, 6, 30, tzinfo=UTC)]


def test_interval_fires_are_epoch_aligned_and_drift_free() -> None:
    schedule = every_minute(every=7)
    assert next_after(schedule, T0) == T0 + timedelta(seconds=(-int(T0.timestamp())) % 7 or 7)
    far = T0 + timedelta(days=3650)
    assert int(next_after(schedule, far).timestamp()) % 7 == 0


def test_job_ids_are_deterministic() -> None:
    assert fire_job_id("nightly", T0) == f"nightly-{int(T0.timestamp())}"
    assert fire_job_id("x", T0 + timedelta(milliseconds=250)) == f"x-{int(T0.timestamp()) * 1000 + 250}ms"


@settings(max_examples=150, deadline=None)
@given(
    every=st.integers(1, 7200),
    due_offset=st.integers(0, 10**6),
    late=st.integers(0, 20_000),
    grace=st.integers(0, 3600),
    policy=st.sampled_from(["skip", "once", "all"]),
)
def test_plan_invariants(every: int, due_offset: int, late: int, grace: int, policy: str) -> None:
    schedule = Schedule("p", "demo.echo", every=every, misfire=policy, misfire_grace=grace)
    due = next_after(schedule, T0 + timedelta(seconds=due_offset))
    now = due + timedelta(seconds=late)
    plan = plan_fires(schedule, due, now)
    assert list(plan.fires) == sorted(set(plan.fires))
    assert all(due <= fire <= now for fire in plan.fires)
    assert plan.next_due > now and plan.next_due == next_after(schedule, now)
    in_window = late // every + 1
    if policy == "all":
        assert len(plan.fires) == min(in_window, 1000)
    elif in_window < 1000:  # beyond the replay limit the counts are capped
        assert len(plan.fires) + plan.missed == in_window
    if policy == "once":
        assert len(plan.fires) >= 1
    on_time = [f for f in plan.fires if (now - f).total_seconds() <= max(grace, MISFIRE_TOLERANCE_SECONDS)]
    if policy == "skip":
        assert on_time == list(plan.fires)


@pytest.mark.parametrize("policy", ["skip", "once"])
def test_zero_grace_still_fires_a_tick_that_wakes_a_moment_late(policy: str) -> None:
    schedule = every_minute(misfire=policy, misfire_grace=0)
    plan = plan_fires(schedule, T0, T0 + timedelta(milliseconds=2))
    assert (plan.fires, plan.missed) == ((T0,), 0)
    late = plan_fires(schedule, T0, T0 + timedelta(seconds=5))
    assert late.missed == (1 if policy == "skip" else 0)
