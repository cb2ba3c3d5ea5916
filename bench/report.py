"""Print the table with ratios and write results/latest.json."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.core import Measurement

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LATEST = RESULTS_DIR / "latest.json"


def ratio(row: Measurement, other: Measurement) -> float | None:
    """How many times better ``row`` is than ``other`` on medians (>1: row is better)."""
    a, b = row.median, other.median
    if a is None or b is None or not row.counts_ok or not other.counts_ok:
        return None
    if row.better == "higher":
        return a / b if b > 0 else None
    return b / a if a > 0 else None


def _baseline(rows: Sequence[Measurement], of: Measurement) -> Measurement | None:
    if of.baseline is not None:
        return next((r for r in rows if r.impl == of.baseline and r.status == "ok"), None)
    for row in rows:
        if row.kind in ("stock", "ceiling") and row.status == "ok":
            return row
    return None


def _peer(rows: Sequence[Measurement], of: Measurement) -> Measurement | None:
    """The peer a target names for ``of``, else the best peer of the case."""
    peers = [
        r for r in rows if r.kind == "peer" and r.status == "ok" and r.counts_ok and r.median is not None
    ]
    if of.versus is not None:
        return next((r for r in peers if r.impl.startswith(of.versus)), None)
    if not peers:
        return None
    key = (lambda r: r.median) if peers[0].better == "higher" else (lambda r: -r.median)  # type: ignore[operator]
    return max(peers, key=key)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit.startswith("ms") or unit == "s":
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}x"


def table_rows(results: Sequence[Measurement]) -> list[list[str]]:
    """Rows of the printed (and README) table, grouped by case in run order."""
    cases: dict[str, list[Measurement]] = {}
    for row in results:
        cases.setdefault(row.case, []).append(row)
    out = []
    for case, rows in cases.items():
        for row in rows:
            base = _baseline(rows, row)
            peer = _peer(rows, row)
            vs_base = ratio(row, base) if base is not None and row is not base else None
            vs_peer = ratio(row, peer) if peer is not None and row.kind == "rqstack" else None
            if row.status != "ok":
                figures = [row.status, "-", "-"]
            else:
                figures = [_fmt(row.median, row.unit), _fmt(row.minimum, row.unit), row.unit]
            out.append(
                [
                    case,
                    row.impl,
                    *figures,
                    _fmt_ratio(vs_base)
                    + (f" ({base.impl.split(' ')[0]})" if vs_base is not None and base else ""),
                    _fmt_ratio(vs_peer)
                    + (f" ({peer.impl.split(' ')[0]})" if vs_peer is not None and peer else ""),
                    _counts(row),
                    _detail(row),
                ]
            )
    return out


HEADER = ["case", "implementation", "median", "min", "unit", "vs stock", "vs peer", "counts", "detail"]


def _counts(row: Measurement) -> str:
    if row.status != "ok":
        return "-"
    return "ok" if row.counts_ok else "WRONG: " + "; ".join(s.counted for s in row.samples if not s.counts_ok)


def _detail(row: Measurement) -> str:
    if row.status != "ok":
        return row.note
    parts = []
    extras = [s.extra for s in row.samples]
    if extras and "max_ms" in extras[0] and "p50_ms" in extras[0]:
        parts.append("p50 " + "/".join(f"{e['p50_ms']:.1f}" for e in extras))
        parts.append("max " + "/".join(f"{e['max_ms']:.1f}" for e in extras) + " ms")
        parts.append("early " + "/".join(str(e["early"]) for e in extras))
        if "drift_ms_per_fire" in extras[0]:
            parts.append("drift " + "/".join(f"{e['drift_ms_per_fire']:+.2f}" for e in extras) + " ms/fire")
    elif extras and "raw_s" in extras[0]:
        parts.append("raw " + "/".join(f"{e['raw_s']:.3f}" for e in extras) + " s")
    elif extras and "max_ms" in extras[0]:
        parts.append("max " + "/".join(f"{e['max_ms']:.2f}" for e in extras) + " ms")
    if row.note:
        parts.append(row.note)
    return "; ".join(parts)


def render(results: Sequence[Measurement], *, markdown: bool = False) -> str:
    """The table as aligned text (terminal) or as a Markdown table (README)."""
    rows = table_rows(results)
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [
        min(60, max(len(h), *(len(r[i]) for r in rows))) if rows else len(h) for i, h in enumerate(HEADER)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            lines.append("")
        previous = row[0]
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def write_json(results: Sequence[Measurement], meta: dict[str, Any], path: Path = LATEST) -> Path:
    """Write every measurement with its samples; the README figures are copied from here by hand."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "results": [r.as_dict() for r in results]}
    path.write_text(json.dumps(document, indent=1, default=str) + "\n")
    return path


def load(path: Path) -> tuple[dict[str, Any], list[Measurement]]:
    """Meta and measurements back from a results JSON (for the README table and plots)."""
    from bench.core import Sample

    document = json.loads(path.read_text())
    rows = []
    for item in document["results"]:
        row = Measurement(
            item["case"],
            item["impl"],
            item["kind"],
            item["unit"],
            item["better"],
            status=item["status"],
            note=item["note"],
            baseline=item.get("baseline"),
            versus=item.get("versus"),
        )
        row.samples = [Sample(s["value"], s["counts_ok"], s["counted"], s["extra"]) for s in item["samples"]]
        rows.append(row)
    return document["meta"], rows


def machine_meta(*, quick: bool, peers: bool, seconds: float) -> dict[str, Any]:
    """Where and when the figures were taken."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=RESULTS_DIR.parent,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
        cwd=RESULTS_DIR.parent,
    ).stdout.strip()
    import os

    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "peers": peers,
        "seconds": round(seconds, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git_commit": commit,
        "src_uncommitted_changes": bool(dirty),
    }
