"""Cron and interval math: exact UTC instants across zones, DST gaps and repeats, and validation."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from rqstack.errors import BadInput, InvalidCron
from rqstack.sched.cron import (
    CronExpression,
    describe_cron,
    fire_times,
    fires_between,
    interval_fires_between,
    next_fire,
    next_interval_fire,
    parse_cron,
    validate_timezone,
)

NY = "America/New_York"
BERLIN = "Europe/Berlin"
SEOUL = "Asia/Seoul"
LORD_HOWE = "Australia/Lord_Howe"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def at(text: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM[:SS]', short enough for expectation tables."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (expression, zone, after, the next fires in UTC). DST dates in 2027: New York springs forward
# on 03-14 (02:00 EST -> 03:00 EDT) and falls back on 11-07 (02:00 EDT -> 01:00 EST); Berlin on
# 03-28 (02:00 -> 03:00) and 10-31 (03:00 -> 02:00); Lord Howe shifts 30 minutes, on 10-03
# (02:00 -> 02:30, +10:30 -> +11) and 04-04 (02:00 -> 01:30); Seoul has no DST.
ZONE_CASES = [
    pytest.param(
        "30 2 * * *",
        NY,
        "2027-03-13 12:00",
        ["2027-03-14 07:00", "2027-03-15 06:30"],
        id="ny-gap-once-at-03:00",
    ),
    pytest.param(
        "0 2 * * *", NY, "2027-03-13 12:00", ["2027-03-14 07:00", "2027-03-15 06:00"], id="ny-gap-start"
    ),
    pytest.param(
        "*/15 2 * * *",
        NY,
        "2027-03-13 12:00",
        ["2027-03-14 07:00", "2027-03-15 06:00", "2027-03-15 06:15"],
        id="ny-gap-four-become-one",
    ),
    pytest.param(
        "*/30 2-3 * * *",
        NY,
        "2027-03-14 05:00",
        ["2027-03-14 07:00", "2027-03-14 07:30", "2027-03-15 06:00"],
        id="ny-gap-merges-with-03:00",
    ),
    pytest.param(
        "30 1 * * *",
        NY,
        "2027-11-06 12:00",
        ["2027-11-07 05:30", "2027-11-08 06:30"],
        id="ny-repeat-once-first",
    ),
    pytest.param(
        "*/30 1 * * *",
        NY,
        "2027-11-06 12:00",
        ["2027-11-07 05:00", "2027-11-07 05:30", "2027-11-08 06:00"],
        id="ny-repeat-twice-not-four",
    ),
    pytest.param(
        "0 * * * *",
        NY,
        "2027-11-07 03:30",
        ["2027-11-07 04:00", "2027-11-07 05:00", "2027-11-07 07:00"],
        id="ny-hourly-skips-second-01:00",
    ),
    pytest.param("30 1 * * *", NY, "2027-11-07 06:10", ["2027-11-08 06:30"], id="ny-after-in-second-pass"),
    pytest.param(
        "* * * * *",
        NY,
        "2027-11-07 06:10",
        ["2027-11-07 07:00", "2027-11-07 07:01"],
        id="ny-every-minute-in-second-pass",
    ),
    pytest.param(
        "0 0 * * *", NY, "2027-01-01 00:00", ["2027-01-01 05:00", "2027-01-02 05:00"], id="ny-winter-midnight"
    ),
    pytest.param(
        "30 2 * * *", BERLIN, "2027-03-27 12:00", ["2027-03-28 01:00", "2027-03-29 00:30"], id="berlin-gap"
    ),
    pytest.param(
        "30 2 * * *", BERLIN, "2027-10-30 12:00", ["2027-10-31 00:30", "2027-11-01 01:30"], id="berlin-repeat"
    ),
    pytest.param(
        "*/20 2 * * *",
        BERLIN,
        "2027-10-30 12:00",
        ["2027-10-31 00:00", "2027-10-31 00:20", "2027-10-31 00:40", "2027-11-01 01:00"],
        id="berlin-repeat-three",
    ),
    pytest.param(
        "0 9 * * *", SEOUL, "2027-03-13 12:00", ["2027-03-14 00:00", "2027-03-15 00:00"], id="seoul-0900"
    ),
    pytest.param(
        "30 2 * * *", SEOUL, "2027-03-13 12:00", ["2027-03-13 17:30", "2027-03-14 17:30"], id="seoul-no-dst"
    ),
    pytest.param(
        "15 2 * * *",
        LORD_HOWE,
        "2027-10-02 00:00",
        ["2027-10-02 15:30", "2027-10-03 15:15"],
        id="lord-howe-gap",
    ),
    pytest.param(
        "*/10 2 * * *",
        LORD_HOWE,
        "2027-10-02 00:00",
        ["2027-10-02 15:30", "2027-10-02 15:40", "2027-10-02 15:50"],
        id="lord-howe-gap-half-hour",
    ),
    pytest.param(
        "45 1 * * *",
        LORD_HOWE,
        "2027-04-03 00:00",
        ["2027-04-03 14:45", "2027-04-04 15:15"],
        id="lord-howe-repeat",
    ),
    pytest.param(
        "*/15 1 * * *",
        LORD_HOWE,
        "2027-04-03 00:00",
        ["2027-04-03 14:00", "2027-04-03 14:15", "2027-04-03 14:30", "2027-04-03 14:45", "2027-04-04 14:30"],
        id="lord-howe-repeat-quarters",
    ),
    pytest.param(
        "0 0 31 * *",
        "UTC",
        "2027-01-31 00:00",
        ["2027-03-31 00:00", "2027-05-31 00:00", "2027-07-31 00:00", "2027-08-31 00:00"],
        id="31st-skips-short-months",
    ),
    pytest.param(
        "0 0 29 2 *",
        "UTC",
        "2027-01-01 00:00",
        ["2028-02-29 00:00", "2032-02-29 00:00"],
        id="feb-29-next-leap-year",
    ),
    pytest.param("0 0 29 2 *", "UTC", "2096-03-01 00:00", ["2104-02-29 00:00"], id="feb-29-skips-2100"),
    pytest.param(
        "0 0 1 * 1",
        "UTC",
        "2026-12-31 00:00",
        ["2027-01-01 00:00", "2027-01-04 00:00", "2027-01-11 00:00"],
        id="dom-or-dow",
    ),
    pytest.param(
        "0 0 * 2 mon#5", "UTC", "2017-01-01 00:00", ["2044-02-29 00:00"], id="rare-fifth-monday-of-feb"
    ),
    pytest.param(
        "30 0 0 * * *",
        SEOUL,
        "2027-01-01 00:00",
        ["2027-01-01 15:00:30", "2027-01-02 15:00:30"],
        id="leading-seconds",
    ),
    pytest.param(
        "0 30 * * * *",
        "UTC",
        "2027-01-01 00:00",
        ["2027-01-01 00:30", "2027-01-01 01:30"],
        id="seconds-first-not-last",
    ),
    pytest.param(
        "*/20 * * * * *",
        "UTC",
        "2027-01-01 12:00:05.000500",
        ["2027-01-01 12:00:20", "2027-01-01 12:00:40", "2027-01-01 12:01"],
        id="seconds-step",
    ),
    pytest.param(
        "* * * * * *",
        NY,
        "2027-03-14 06:59:59",
        ["2027-03-14 07:00", "2027-03-14 07:00:01"],
        id="seconds-across-gap",
    ),
]


@pytest.mark.parametrize(("expr", "tz", "after", "expected"), ZONE_CASES)
def test_fire_times_exact_utc(expr: str, tz: str, after: str, expected: list[str]) -> None:
    fires = fire_times(expr, tz, at(after), len(expected))
    assert fires == [at(text) for text in expected]
    assert all(fire.tzinfo is UTC for fire in fires)
    assert next_fire(expr, ZoneInfo(tz), at(after)) == at(expected[0])


@pytest.mark.parametrize(("expr", "tz", "after", "expected"), ZONE_CASES)
def test_chained_next_fire_matches_fire_times(expr: str, tz: str, after: str, expected: list[str]) -> None:
    chained = [next_fire(expr, tz, at(after))]
    while len(chained) < len(expected):
        chained.append(next_fire(expr, tz, chained[-1]))
    assert chained == [at(text) for text in expected]


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", utc(2027, 5, 5, 11)),
        ("@daily", utc(2027, 5, 6)),
        ("@midnight", utc(2027, 5, 6)),
        ("@weekly", utc(2027, 5, 9)),
        ("@monthly", utc(2027, 6, 1)),
        ("@yearly", utc(2028, 1, 1)),
        ("@annually", utc(2028, 1, 1)),
    ],
)
def test_aliases(alias: str, expected: datetime) -> None:
    cron = parse_cron(alias.upper())
    assert cron == CronExpression(alias, has_seconds=False)
    assert next_fire(cron, "UTC", utc(2027, 5, 5, 10, 20)) == expected  # a Wednesday


@pytest.mark.parametrize(
    ("text", "normalized", "has_seconds"),
    [
        ("  0   3 * *  MON ", "0 3 * * mon", False),
        ("0\t0 3 * * *", "0 0 3 * * *", True),
        ("*/5 * * * *", "*/5 * * * *", False),
    ],
)
def test_parse_normalizes(text: str, normalized: str, has_seconds: bool) -> None:
    assert parse_cron(text) == CronExpression(normalized, has_seconds)


@pytest.mark.parametrize("text", ["0 0 29 2 1", "0 0 29 2 *", "0 0 * 2 mon#5", "0 0 l 2 *", "0 0 31 * *"])
def test_rare_but_valid_expressions_are_accepted(text: str) -> None:
    assert parse_cron(text).text == text


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("0 0 31 2 *", "day-of-month and month"),
        ("0 0 30 2 *", "day-of-month and month"),
        ("0 0 31 4,6,9,11 *", "day-of-month and month"),
        ("0 0 0 31 2 *", "day-of-month and month"),
        ("0 0 31 2 mon#5", "day-of-month, month and day-of-week"),
    ],
)
def test_never_firing_is_rejected(text: str, fields: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron(text)
    assert caught.value.message == (
        f"cron {text!r} never fires (no month has that day); "
        f"the schedule was not saved; check the {fields} fields"
    )
    assert caught.value.field == "cron"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("x y", "it has 2 fields, cron has 5 (or 6 with a leading seconds field)"),
        ("1 2 3 4 5 6 7", "it has 7 fields"),
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
        ("61 * * * *", "minute field '61' is not valid (allowed: 0-59"),
        ("* 24 * * *", "hour field '24' is not valid (allowed: 0-23"),
        ("* * 0 * *", "day-of-month field '0'"),
        ("* * * 13 *", "month field '13'"),
        ("* * * * 8", "day-of-week field '8'"),
        ("* * * * mun", "day-of-week field 'mun'"),
        ("*/0 * * * *", "minute field '*/0'"),
        ("60 * * * * *", "second field '60'"),
        ("h * * * *", "minute field 'h' uses H or R"),
        ("0 r * * *", "hour field 'r' uses H or R"),
        ("@reboot", "unknown alias, use one of @yearly"),
        ("1" * 257, "it is 257 characters long, at most 256 are allowed"),
    ],
)
def test_malformed_is_rejected_with_the_fix(text: str, what: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron(text)
    message = caught.value.message
    assert message.startswith("cron '")
    assert f"is not valid: {what}" in message
    assert message.endswith(
        "; the schedule was not saved; "
        "write five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *'"
    )
    assert len(message) < 400


def test_every_is_not_cron() -> None:
    with pytest.raises(InvalidCron, match=r"@every is not cron syntax; .*interval schedule"):
        parse_cron("@every 5m")


def test_non_text_is_invalid_cron() -> None:
    with pytest.raises(InvalidCron, match="must be text"):
        parse_cron(5)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2027, 1, 1)
    with pytest.raises(ValueError, match="aware"):
        next_fire("* * * * *", "UTC", naive)
    with pytest.raises(ValueError, match="aware"):
        fires_between("* * * * *", "UTC", utc(2027, 1, 1), naive)
    with pytest.raises(ValueError, match="aware"):
        next_interval_fire(60, naive, utc(2027, 1, 1))


def test_after_in_any_zone_gives_utc() -> None:
    after = datetime(2027, 1, 1, 12, tzinfo=ZoneInfo(SEOUL))  # 03:00 UTC
    assert next_fire("0 * * * *", BERLIN, after) == utc(2027, 1, 1, 4)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_fire_times_count(n: int) -> None:
    assert len(fire_times("* * * * *", "UTC", utc(2027, 1, 1), n)) == n


def test_fire_times_negative_count() -> None:
    with pytest.raises(ValueError, match="n must be"):
        fire_times("* * * * *", "UTC", utc(2027, 1, 1), -1)


@pytest.mark.parametrize(
    ("expr", "tz", "start", "end", "limit", "expected"),
    [
        (
            "*/15 * * * *",
            "UTC",
            utc(2027, 1, 1, 10),
            utc(2027, 1, 1, 11),
            100,
            [utc(2027, 1, 1, 10, 15), utc(2027, 1, 1, 10, 30), utc(2027, 1, 1, 10, 45), utc(2027, 1, 1, 11)],
        ),
        (
            "*/15 * * * *",
            "UTC",
            utc(2027, 1, 1, 10),
            utc(2027, 1, 1, 11),
            2,
            [utc(2027, 1, 1, 10, 15), utc(2027, 1, 1, 10, 30)],
        ),
        ("*/15 * * * *", "UTC", utc(2027, 1, 1, 10), utc(2027, 1, 1, 10), 100, []),
        ("*/15 * * * *", "UTC", utc(2027, 1, 1, 10), utc(2027, 1, 1, 10, 14), 100, []),
        (
            "*/30 1 * * *",
            NY,
            utc(2027, 11, 7),
            utc(2027, 11, 8),
            100,
            [utc(2027, 11, 7, 5), utc(2027, 11, 7, 5, 30)],
        ),
        ("*/15 2 * * *", NY, utc(2027, 3, 14), utc(2027, 3, 15), 100, [utc(2027, 3, 14, 7)]),
    ],
)
def test_fires_between(
    expr: str, tz: str, start: datetime, end: datetime, limit: int, expected: list[datetime]
) -> None:
    assert fires_between(expr, tz, start, end, limit) == expected


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "Asia/Seoul", "Australia/Lord_Howe"])
def test_validate_timezone_accepts_iana(name: str) -> None:
    assert validate_timezone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    ("name", "guess"),
    [("Europe/Berlim", "'Europe/Berlin'"), ("utc", "'UTC'"), ("Mars/Olympus", None), ("", None),
     ("../etc/passwd", None), ("/etc/localtime", None), ("localtime", None)],
)  # fmt: skip
def test_validate_timezone_rejects_unknown(name: str, guess: str | None) -> None:
    with pytest.raises(BadInput) as caught:
        validate_timezone(name)
    assert caught.value.field == "timezone"
    assert caught.value.message.startswith(f"unknown time zone {name!r}")
    assert "use an IANA name like Europe/Berlin or UTC" in caught.value.message
    assert (
        (f"did you mean {guess}?" in caught.value.message)
        if guess
        else ("did you mean" not in caught.value.message)
    )


def test_unknown_zone_in_next_fire() -> None:
    with pytest.raises(BadInput):
        next_fire("* * * * *", "Nowhere/Land", utc(2027, 1, 1))


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("* * * * *", "every minute"),
        ("*/15 * * * *", "every 15 minutes"),
        ("0 * * * *", "at minute 0 past every hour"),
        ("@hourly", "at minute 0 past every hour"),
        ("0 */2 * * *", "at minute 0 past every 2 hours"),
        ("0 3 * * *", "at 03:00 every day"),
        ("@daily", "at 00:00 every day"),
        ("0 9,17 * * *", "at 09:00 and 17:00 every day"),
        ("0 1 * * 0", "at 01:00 on Sunday"),
        ("0 1 * * 7", "at 01:00 on Sunday"),
        ("@weekly", "at 00:00 on Sunday"),
        ("30 9 * * 1-5", "at 09:30 on Monday through Friday"),
        ("30 9 * * mon-fri", "at 09:30 on Monday through Friday"),
        ("0 0 * * fri-sun", "at 00:00 on Friday through Sunday"),
        ("0 8 * * mon,wed,fri", "at 08:00 on Monday, Wednesday and Friday"),
        ("@monthly", "at 00:00 on the 1st of every month"),
        ("0 6 22 * *", "at 06:00 on the 22nd of every month"),
        ("0 0 l * *", "at 00:00 on the last day of every month"),
        ("@yearly", "at 00:00 on the 1st of January"),
        ("0 12 13 jun *", "at 12:00 on the 13th of June"),
        ("* * * * * *", "every second"),
        ("*/10 * * * * *", "every 10 seconds"),
        ("0 0 3 * * *", "at 03:00 every day"),
        ("0 0 1 * 1", "0 0 1 * 1"),
        ("5 4 * * 5-1", "5 4 * * 5-1"),
        ("0 0 * * sun#2", "0 0 * * sun#2"),
        ("15 0 3 * * *", "15 0 3 * * *"),
        ("0-30 * * * *", "0-30 * * * *"),
    ],
)
def test_describe_cron(expr: str, words: str) -> None:
    assert describe_cron(expr) == words


# Intervals


@pytest.mark.parametrize("every", [0.1, 1, 7.3, 60, 3600, 86_400])
def test_interval_has_no_drift_over_10000_steps(every: float) -> None:
    anchor = utc(2027, 1, 1, 0, 0, 7)
    fire = anchor
    for _ in range(10_000):
        fire = next_interval_fire(every, anchor, fire)
    assert fire == anchor + timedelta(microseconds=round(every * 1_000_000) * 10_000)
    if float(every).is_integer():
        assert fire.microsecond == 0


@pytest.mark.parametrize(
    ("every", "after", "expected"),
    [
        (60, utc(2026, 12, 31), utc(2027, 1, 1, 0, 0, 7)),  # before the anchor: the anchor itself
        (60, utc(2027, 1, 1, 0, 0, 7), utc(2027, 1, 1, 0, 1, 7)),  # strictly after
        (60, utc(2027, 1, 1, 0, 1, 6, 999_999), utc(2027, 1, 1, 0, 1, 7)),
        (60, utc(2027, 1, 1, 0, 1, 7), utc(2027, 1, 1, 0, 2, 7)),
        (90, utc(2027, 3, 14, 12), utc(2027, 3, 14, 12, 0, 7)),  # 72 d 11:59:53 after: 480th step of the day
        (86_400, utc(2027, 3, 14, 12), utc(2027, 3, 15, 0, 0, 7)),  # pure UTC, no DST
    ],
)
def test_next_interval_fire(every: float, after: datetime, expected: datetime) -> None:
    assert next_interval_fire(every, utc(2027, 1, 1, 0, 0, 7), after) == expected


def test_interval_anchor_in_local_zone_returns_utc() -> None:
    anchor = datetime(2027, 1, 1, 9, tzinfo=ZoneInfo(SEOUL))
    fire = next_interval_fire(3600, anchor, utc(2027, 1, 1, 0, 30))
    assert fire == utc(2027, 1, 1, 1)
    assert fire.tzinfo is UTC


@pytest.mark.parametrize("every", [0, -5, float("nan"), float("inf"), 1e-9])
def test_interval_rejects_bad_every(every: float) -> None:
    with pytest.raises(ValueError, match="every_seconds"):
        next_interval_fire(every, utc(2027, 1, 1), utc(2027, 1, 1))


def test_interval_fires_between() -> None:
    anchor = utc(2027, 1, 1)
    start, end = utc(2027, 1, 1, 0, 0, 30), utc(2027, 1, 1, 0, 3)
    assert interval_fires_between(60, anchor, start, end) == [
        utc(2027, 1, 1, 0, 1),
        utc(2027, 1, 1, 0, 2),
        utc(2027, 1, 1, 0, 3),
    ]
    assert interval_fires_between(60, anchor, start, end, limit=1) == [utc(2027, 1, 1, 0, 1)]
    assert interval_fires_between(60, anchor, end, start) == []


# Properties

EXPRESSIONS = [
    "* * * * *",
    "*/7 * * * *",
    "30 2 * * *",
    "*/15 1-3 * * *",
    "0 * * * *",
    "45 1 * * *",
    "0 0 1 * 1",
    "0 0 31 * *",
    "0 0 29 2 *",
    "*/20 * 2 * * *",
    "0 30 2 * * sun",
    "@daily",
]
ZONES = ["UTC", NY, BERLIN, SEOUL, LORD_HOWE, "Europe/Dublin", "Pacific/Apia"]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXPRESSIONS), st.sampled_from(ZONES), instants)
def test_fires_increase_without_repeating_wall_times(expr: str, tz: str, after: datetime) -> None:
    fires = fire_times(expr, tz, after, 12)
    assert fires[0] > after
    assert all(earlier < later for earlier, later in itertools.pairwise(fires))
    walls = [fire.astimezone(ZoneInfo(tz)).replace(tzinfo=None) for fire in fires]
    assert len(set(walls)) == len(walls)
    chained = [next_fire(expr, tz, after)]
    while len(chained) < len(fires):
        chained.append(next_fire(expr, tz, chained[-1]))
    assert chained == fires
    assert fires_between(expr, tz, after, fires[-1]) == fires


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXPRESSIONS), st.sampled_from(ZONES), instants)
def test_each_fire_matches_or_ends_a_gap(expr: str, tz: str, after: datetime) -> None:
    zone = ZoneInfo(tz)
    for fire in fire_times(expr, tz, after, 12):
        wall = fire.astimezone(zone).replace(tzinfo=None)
        matches = croniter.match(" ".join(parse_cron(expr).fields), wall, second_at_beginning=True)
        offset_changed = (fire - timedelta(seconds=1)).astimezone(zone).utcoffset() != fire.astimezone(
            zone
        ).utcoffset()
        assert matches or offset_changed


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EXPRESSIONS), instants)
def test_utc_agrees_with_plain_croniter(expr: str, after: datetime) -> None:
    plain = croniter(" ".join(parse_cron(expr).fields), after, second_at_beginning=True)
    assert fire_times(expr, "UTC", after, 8) == [plain.get_next(datetime) for _ in range(8)]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=10 * 86_400_000_000),
    instants,
    st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=3000)),
)
def test_interval_is_anchored(step_us: int, anchor: datetime, offset: timedelta) -> None:
    every = step_us / 1_000_000
    after = anchor + offset
    fire = next_interval_fire(every, anchor, after)
    step = timedelta(microseconds=round(every * 1_000_000))
    assert fire > after or (fire == anchor and after < anchor)
    assert (fire - anchor) % step == timedelta(0)
    assert fire == anchor or fire - step <= after


def test_no_fire_left_before_year_9999_is_invalid_cron_not_an_overflow() -> None:
    with pytest.raises(InvalidCron) as info:
        fire_times("* * * * *", "UTC", datetime(9999, 12, 31, 23, 58, tzinfo=UTC), 5)
    assert "end of the calendar" in info.value.message
