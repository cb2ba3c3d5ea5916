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


@dataclass
class Row:
    """Measurements whose samples one call of ``fn`` takes together, in order (usually just one)."""

    measurements: tuple[Measurement, ...]
    fn: Callable[[BenchRedis], Sequence[Sample]]

    @property
    def case(self) -> str:
        """The case its measurements belong to."""
        return self.measurements[0].case


def row(
    case: str,
    impl: str,
    kind: Kind,
    unit: str,
    better: Better,
    fn: SampleFn,
    *,
    note: str = "",
    baseline: str | None = None,
    versus: str | None = None,
) -> Row:
    """One implementation of one case, sampled by ``fn`` against a fresh redis-server each repeat."""
    measurement = Measurement(case, impl, kind, unit, better, note=note, baseline=baseline, versus=versus)
    return Row((measurement,), lambda server: [fn(server)])


def measure(rows: Sequence[Row], repeats: int) -> list[Measurement]:
    """Every row, case by case; within a case the rows take turns, one sample each per repeat.

    The machine's speed drifts within minutes, faster than a case with several rows runs: timed one
    row after the other, two rows could differ by the drift alone. Taking turns, the rows of a case
    see the same stretches of the machine, and the order rotates each repeat so no row always runs
    first. Each sample gets its own redis-server and starts from a collected heap.
    """
    cases: dict[str, list[Row]] = {}
    for each in rows:
        cases.setdefault(each.case, []).append(each)
    out: list[Measurement] = []
    for case_rows in cases.values():
        out += _measure_case(case_rows, repeats)
    return out


def _measure_case(rows: list[Row], repeats: int) -> list[Measurement]:
    spent = [0.0] * len(rows)
    for repeat in range(repeats):
        shift = repeat % len(rows)
        for index in [*range(shift, len(rows)), *range(shift)]:
            if all(m.status == "ok" for m in rows[index].measurements):
                started = time.monotonic()
                _sample(rows[index])
                spent[index] += time.monotonic() - started
    for each, seconds in zip(rows, spent, strict=True):
        for measurement in each.measurements:
            _progress(measurement, seconds)
    return [measurement for each in rows for measurement in each.measurements]


def _sample(each: Row) -> None:
    """One repeat of ``each``; a row that fails or is unavailable keeps no samples and is not run again."""
    gc.collect()
    try:
        with fresh_redis() as server:
            samples = each.fn(server)
    except Unavailable as exc:
        _give_up(each, "unavailable", str(exc))
        return
    except Exception as exc:
        logger.debug("%s failed", each.case, exc_info=True)
        _give_up(each, "failed", f"{type(exc).__name__}: {exc}"[:300])
        _remember_failure(each.case, ", ".join(m.impl for m in each.measurements))
        return
    for measurement, sample in zip(each.measurements, samples, strict=True):
        measurement.samples.append(sample)


def _give_up(each: Row, status: Literal["unavailable", "failed"], note: str) -> None:
    for measurement in each.measurements:
        measurement.status = status
        measurement.note = note
        measurement.samples.clear()


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
