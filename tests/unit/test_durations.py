"""Duration strings as users type them."""

from __future__ import annotations

import pytest

from rqstack.durations import format_duration, parse_duration, parse_duration_list
from rqstack.errors import BadInput


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("90", 90),
        ("1h30m", 5400),
        ("250ms", 0.25),
        (" 5m ", 300),
        ("1.5h", 5400),
        (42, 42),
    ],
)
def test_parse_duration_reads_each_unit(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "-5m", "m", "5 minutes", "1h-30m", "0s", "nan"])
def test_parse_duration_rejects_malformed_or_non_positive(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_duration(text, field="timeout")
    assert info.value.field == "timeout"
    assert "30s" in info.value.message or "positive" in info.value.message


def test_zero_allowed_only_when_asked() -> None:
    assert parse_duration("0s", allow_zero=True) == 0


def test_parse_duration_list_reads_comma_separated_values() -> None:
    assert parse_duration_list("30s,2m, 10m") == [30, 120, 600]
    with pytest.raises(BadInput):
        parse_duration_list(",")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (90, "1m30s"), (86400, "1d"), (3661, "1h1m1s")]
)
def test_format_duration_is_the_inverse(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [{"a": 1}, [1], None, True, 1e300, float("inf"), "100000d"])
def test_non_durations_and_absurd_lengths_are_bad_input(value: object) -> None:
    with pytest.raises(BadInput) as info:
        parse_duration(value)  # type: ignore[arg-type]
    assert "nothing was saved" in info.value.message
