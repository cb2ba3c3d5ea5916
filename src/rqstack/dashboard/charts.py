"""A small inline SVG bar chart of run durations, coloured by outcome (no scripts, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH = 600
HEIGHT = 120
#: A chart has at least this many slots.
MIN_SLOTS = 30
#: Bars for runs without a duration (queued, missed, skipped) get this height so they stay visible.
STUB_HEIGHT = 6


@dataclass(frozen=True)
class Bar:
    """One run: geometry, CSS class by status and a tooltip."""

    x: float
    y: float
    width: float
    height: float
    status: str
    title: str


@dataclass(frozen=True)
class Chart:
    """Bars oldest-left, with the largest duration for the axis label."""

    bars: tuple[Bar, ...]
    max_seconds: float
    width: int = WIDTH
    height: int = HEIGHT


def duration_chart(runs: list[dict[str, Any]], limit: int = 50) -> Chart:
    """The chart of the latest ``limit`` runs (``runs`` come newest first, as the history stores them)."""
    shown = list(reversed(runs[:limit]))
    durations = [r["duration"] for r in shown if isinstance(r.get("duration"), int | float)]
    top = max(durations, default=0.0) or 1.0
    # Fixed slots, newest at the right edge: a few runs are a few slim bars, not a wall of colour.
    slot = WIDTH / max(len(shown), MIN_SLOTS)
    offset = WIDTH - slot * len(shown)
    bars = []
    for index, run in enumerate(shown):
        seconds = run.get("duration")
        status = _status_class(str(run.get("status", "unknown")))
        if isinstance(seconds, int | float):
            height = max(2.0, (HEIGHT - 10) * seconds / top)
            label = f"{seconds:.3f} s"
        else:
            height = STUB_HEIGHT
            label = "no duration"
        title = (
            f"{run.get('fire_time') or run.get('enqueued_at') or ''} {run.get('status', '')} {label}".strip()
        )
        bars.append(
            Bar(
                x=round(offset + index * slot + slot * 0.1, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(slot * 0.8, 1.0), 2),
                height=round(height, 2),
                status=status,
                title=title,
            )
        )
    return Chart(tuple(bars), max(durations, default=0.0))


def _status_class(status: str) -> str:
    if status in ("finished",):
        return "ok"
    if status in ("failed", "stopped", "canceled", "missed", "expired"):
        return "bad"
    if status in ("started", "queued", "scheduled", "deferred"):
        return "busy"
    return "muted"
