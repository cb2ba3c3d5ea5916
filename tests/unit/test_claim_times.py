"""A claimed job's times are read as RQ reads them, without RQ's strptime."""

from __future__ import annotations

import pytest
from rq.utils import str_to_date

from rqstack.worker.claims import _utc_time


@pytest.mark.parametrize(
    "raw", [b"2026-11-25T16:55:16.663242Z", b"2026-11-25T16:55:16Z", b"2030-01-01T00:00:00.000001Z"]
)
def test_same_aware_utc_time_as_rq(raw: bytes) -> None:
    ours, rqs = _utc_time(raw), str_to_date(raw)
    assert ours == rqs
    assert ours.utcoffset() == rqs.utcoffset()


@pytest.mark.parametrize("raw", [b"2026-11-25T16:55:16.663242", b"yesterday"])
def test_text_rq_refuses_is_refused_the_same_way(raw: bytes) -> None:
    with pytest.raises(ValueError):
        str_to_date(raw)
    with pytest.raises(ValueError):
        _utc_time(raw)
