"""What one measurement is: repeated samples of one figure, each checked by counting."""

from __future__ import annotations

import gc
import logging
import math
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.server import BenchRedis, fresh_redis

logger = logging.getLogger(__name__)

Kind = Literal["stock", "rqstack", "peer", "ceiling"]
Better = Literal["higher", "lower"]


class Unavailable(Exception):
    """The implementation under test does not offer this case (yet); the row says so instead of a figure."""


@dataclass
class Sample:
    """One run of one case: the figure, whether the counts added up, and what was counted."""

    value: float
    counts_ok: bool
    counted: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Measurement:
    """Every repeat of one (case, implementation) pair, summarised as min and median."""

    case: str
    impl: str
    kind: Kind
    unit: str
    better: Better
    samples: list[Sample] = field(default_factory=list)
    status: Literal["ok", "unavailable", "failed"] = "ok"
    note: str = ""
    #: The row this one's ratio is taken against (default: the case's first stock row).
    baseline: str | None = None
    #: The peer (impl prefix) a target names for this row; default: the best peer of the case.
    versus: str | None = None

    @property
    def values(self) -> list[float]:
        """The figure of each repeat."""
        return [s.value for s in self.samples]

    @property
    def median(self) -> float | None:
        """Median over repeats."""
        return statistics.median(self.values) if self.samples else None

    @property
    def best(self) -> float | None:
        """The best repeat (max when higher is better, else min)."""
        if not self.samples:
            return None
        return max(self.values) if self.better == "higher" else min(self.values)

    @property
    def minimum(self) -> float | None:
        """Smallest value over repeats."""
        return min(self.values) if self.samples else None

    @property
    def counts_ok(self) -> bool:
        """True when every repeat counted every job exactly once."""
        return bool(self.samples) and all(s.counts_ok for s in self.samples)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form for results/latest.json."""
        return {
            "case": self.case,
            "impl": self.impl,
            "kind": self.kind,
            "unit": self.unit,
            "better": self.better,
            "status": self.status,
            "note": self.note,
            "baseline": self.baseline,
            "versus": self.versus,
            "min": self.minimum,
            "median": self.median,
            "values": self.values,
            "counts_ok": self.counts_ok,
            "samples": [
                {"value": s.value, "counts_ok": s.counts_ok, "counted": s.counted, "extra": s.extra}
                for s in self.samples
            ],
        }


SampleFn = Callable[[BenchRedis], Sample]


def measure(
    case: str,
    impl: str,
    kind: Kind,
    unit: str,
    better: Better,
    fn: SampleFn,
    repeats: int,
    *,
    note: str = "",
    baseline: str | None = None,
    versus: str | None = None,
) -> Measurement:
    """Run ``fn`` ``repeats`` times, each against its own fresh redis-server."""
    result = Measurement(case, impl, kind, unit, better, note=note, baseline=baseline, versus=versus)
    started = time.monotonic()
    for _ in range(repeats):
        # Each repeat starts from a collected heap: no figure pays for garbage an earlier case left.
        gc.collect()
        try:
            with fresh_redis() as server:
                result.samples.append(fn(server))
        except Unavailable as exc:
            result.status = "unavailable"
            result.note = str(exc)
            result.samples.clear()
            break
        except Exception as exc:
            logger.debug("%s / %s failed", case, impl, exc_info=True)
            result.status = "failed"
            result.note = f"{type(exc).__name__}: {exc}"[:300]
            result.samples.clear()
            _remember_failure(case, impl)
            break
    _progress(result, time.monotonic() - started)
    return result


def measure_alternating(
    rows: Sequence[Measurement],
    fn: Callable[[BenchRedis], Sequence[Sample]],
    repeats: int,
) -> list[Measurement]:
    """``measure`` for rows whose samples one call of ``fn`` takes together, one per row, in row order.

    For figures that drift with the machine faster than a case runs (process start-up): ``fn`` takes
    turns between the rows on one server, so every row sees the same moments.
    """
    started = time.monotonic()
    for _ in range(repeats):
        gc.collect()
        try:
            with fresh_redis() as server:
                samples = fn(server)
        except Exception as exc:
            logger.debug("%s failed", rows[0].case, exc_info=True)
            for row in rows:
                row.status = "failed"
                row.note = f"{type(exc).__name__}: {exc}"[:300]
                row.samples.clear()
            _remember_failure(rows[0].case, ", ".join(row.impl for row in rows))
            break
        for row, sample in zip(rows, samples, strict=True):
            row.samples.append(sample)
    for row in rows:
        _progress(row, time.monotonic() - started)
    return list(rows)


def _remember_failure(case: str, impl: str) -> None:
    logger.warning("%s / %s failed:\n%s", case, impl, traceback.format_exc(limit=6))


def _progress(result: Measurement, seconds: float) -> None:
    if result.status != "ok":
        shown = f"{result.status}: {result.note}"
    else:
        values = ", ".join(f"{v:,.4g}" for v in result.values)
        shown = f"[{values}] {result.unit}, counts {'ok' if result.counts_ok else 'WRONG'}"
    logger.info("%-28s %-44s %s (%.1f s)", result.case, result.impl, shown, seconds)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank, of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]
