"""JSON where the value survives it, pickle otherwise; both read back."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rqstack.serializer import JSONFirstSerializer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_json_values_are_written_as_json_and_read_back(value: Any) -> None:
    data = JSONFirstSerializer.dumps(value)
    assert data[:1] != b"\x80"
    assert JSONFirstSerializer.loads(data) == value


@pytest.mark.parametrize(
    "value",
    [datetime(2026, 1, 1, tzinfo=UTC), {1: "int key"}, {"nested": {2: 1}}, {1, 2}, b"bytes"],
)
def test_values_json_would_change_fall_back_to_pickle(value: Any) -> None:
    data = JSONFirstSerializer.dumps(value)
    assert data[:1] == b"\x80"
    assert JSONFirstSerializer.loads(data) == value


def test_job_payload_tuple_is_json() -> None:
    payload = ("rqstack.worker.jobs.demo.add", None, (1, 2), {"x": 1})
    data = JSONFirstSerializer.dumps(payload)
    assert data.startswith(b"[")
    assert list(JSONFirstSerializer.loads(data)) == ["rqstack.worker.jobs.demo.add", None, [1, 2], {"x": 1}]


def test_reads_what_stock_rq_pickled() -> None:
    assert JSONFirstSerializer.loads(pickle.dumps(("f", None, (1,), {}))) == ("f", None, (1,), {})


def test_tuples_read_back_as_lists_like_any_json_serializer() -> None:
    assert JSONFirstSerializer.loads(JSONFirstSerializer.dumps({"pair": (1, 2)})) == {"pair": [1, 2]}
