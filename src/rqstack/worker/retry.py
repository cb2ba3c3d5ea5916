"""Retry policies: a fixed list of waits (``30s,2m``) or exponential backoff with jitter (``exp:10s:10m``).

Spec grammar, used by ``rqstack enqueue --retry-interval``, schedules and ``@rqstack.job(retry_interval=)``:

- ``30s,2m,10m``: retry n waits the n-th duration; the last one repeats when retries outnumber them.
- ``exp:BASE`` or ``exp:BASE:MAX`` (``backoff:`` is an alias): retry n (0-based) waits a random time
  between half and all of ``min(MAX, BASE * 2**n)`` ("equal jitter": never 0, spreads a thundering
  herd); MAX defaults to 1h.
- ``0`` or nothing: retry at once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rqstack.durations import parse_duration, parse_duration_list
from rqstack.errors import BadInput

#: Meta key holding the policy so rqstack workers keep sub-second waits and backoff exactly.
RETRY_META_KEY = "rqstack_retry"
DEFAULT_BACKOFF_MAX_SECONDS = 3600.0
_BACKOFF_PREFIXES = ("exp:", "backoff:")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before each retry: fixed ``intervals`` or ``backoff_base`` doubling to a cap."""

    intervals: tuple[float, ...] = ()
    backoff_base: float | None = None
    backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0 = first retry)."""
        if self.backoff_base is not None:
            ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(attempt, 60))
            return float(ceiling * (0.5 + 0.5 * (rng or random).random()))
        if not self.intervals:
            return 0.0
        return float(self.intervals[min(attempt, len(self.intervals) - 1)])

    def rq_intervals(self, retries: int) -> list[int]:
        """Whole-second waits for stock RQ workers, which cannot read the policy (no jitter there)."""
        if self.backoff_base is None:
            return [round(i) for i in self.intervals]
        return [round(min(self.backoff_max, self.backoff_base * 2**n)) for n in range(min(retries, 30))]

    def as_meta(self, retries: int) -> dict[str, Any]:
        """JSON form stored in the job's meta (``max`` lets a worker number the attempts)."""
        if self.backoff_base is not None:
            return {"max": retries, "backoff": [self.backoff_base, self.backoff_max]}
        return {"max": retries, "intervals": list(self.intervals)}

    def spec(self) -> str:
        """The spec text that parses back to this policy."""
        if self.backoff_base is not None:
            return f"exp:{self.backoff_base:g}s:{self.backoff_max:g}s"
        return ",".join(f"{i:g}s" for i in self.intervals) or "0"


def parse_retry_spec(
    text: str | float | Sequence[str | float] | None, *, field: str = "retry_interval"
) -> RetryPolicy:
    """The policy a user typed; BadInput naming the grammar when it does not parse."""
    if text is None:
        return RetryPolicy()
    if isinstance(text, int | float) and not isinstance(text, bool):
        return RetryPolicy((parse_duration(text, field=field, allow_zero=True),))
    if not isinstance(text, str):
        if isinstance(text, bool):
            raise BadInput(f"{field} must be durations, got {text!r}; nothing was saved", field=field)
        return RetryPolicy(tuple(parse_duration(v, field=field, allow_zero=True) for v in text))
    compact = text.strip().lower()
    for prefix in _BACKOFF_PREFIXES:
        if compact.startswith(prefix):
            parts = compact[len(prefix) :].split(":")
            if len(parts) > 2 or not parts[0]:
                raise BadInput(
                    f"{field} {text!r} is not a backoff spec; nothing was saved; write exp:BASE or "
                    "exp:BASE:MAX, e.g. exp:10s:10m",
                    field=field,
                )
            base = parse_duration(parts[0], field=field)
            cap = parse_duration(parts[1], field=field) if len(parts) == 2 else DEFAULT_BACKOFF_MAX_SECONDS
            return RetryPolicy(backoff_base=base, backoff_max=max(cap, base))
    return RetryPolicy(tuple(parse_duration_list(text, field=field)))


def next_retry_delay(
    meta: dict[str, Any],
    rq_intervals: Sequence[float] | None,
    retries_left: int,
    rng: random.Random | None = None,
) -> float:
    """Seconds before the next retry of a job that has ``retries_left`` (before this one is used)."""
    record = meta.get(RETRY_META_KEY)
    if isinstance(record, dict) and isinstance(record.get("max"), int):
        attempt = max(0, record["max"] - retries_left)
        backoff = record.get("backoff")
        if isinstance(backoff, list) and len(backoff) == 2:
            return RetryPolicy(backoff_base=float(backoff[0]), backoff_max=float(backoff[1])).delay(
                attempt, rng
            )
        intervals = record.get("intervals")
        if isinstance(intervals, list):
            return RetryPolicy(tuple(float(i) for i in intervals)).delay(attempt, rng)
    # A job queued by stock RQ code: follow RQ's own indexing of retry_intervals.
    intervals = list(rq_intervals or ())
    if not intervals:
        return 0.0
    return float(intervals[max(len(intervals) - retries_left, 0)])
