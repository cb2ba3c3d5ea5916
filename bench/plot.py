"""Draw the README plots from a results JSON; run by the plot venv's python (matplotlib lives only there).

python -m bench --plot               (builds bench/.venvs/plot and runs this file on latest.json)
bench/.venvs/plot/bin/python bench/plot.py bench/results/latest.json bench/plots
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {"rqstack": "#1f77b4", "stock": "#d62728", "peer": "#7f7f7f", "ceiling": "#2ca02c"}


def _rows(document: dict[str, Any], case_prefix: str) -> list[dict[str, Any]]:
    return [r for r in document["results"] if r["case"].startswith(case_prefix) and r["status"] == "ok"]


def lateness(document: dict[str, Any], case: str, out: Path) -> None:
    """Box + points of every lateness sample (all repeats) per implementation, symlog scale."""
    rows = _rows(document, case)
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.6))
    for index, row in enumerate(rows):
        values = [v for s in row["samples"] for v in s["extra"].get("lateness_ms", [])]
        if not values:
            continue
        ax.boxplot(values, positions=[index], orientation="horizontal", widths=0.6, showfliers=False)
        jitter = [index + 0.18 * ((i * 7919) % 11 - 5) / 5 for i in range(len(values))]
        ax.scatter(values, jitter, s=7, alpha=0.6, color=COLORS.get(row["kind"], "black"))
    ax.set_yticks(range(len(rows)), [r["impl"] for r in rows], fontsize=8)
    ax.set_xscale("symlog", linthresh=1)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.axvline(5, color="#1f77b4", linewidth=0.8, linestyle="--")
    ax.set_xlabel("start lateness, ms (negative = early; dashed line: 5 ms target)")
    ax.set_title(case)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def bars(document: dict[str, Any], cases: list[str], out: Path, title: str, log: bool = False) -> None:
    """Median (bar) and min (tick) of each implementation's figure, one panel per case."""
    groups = [(case, _rows(document, case)) for case in cases]
    groups = [(c, r) for c, r in groups if r]
    if not groups:
        return
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, sum(0.45 * len(r) + 1.0 for _, r in groups)))
    axes = axes if len(groups) > 1 else [axes]
    for ax, (case, rows) in zip(axes, groups, strict=True):
        names = [r["impl"] for r in rows]
        medians = [r["median"] for r in rows]
        ax.barh(range(len(rows)), medians, color=[COLORS.get(r["kind"], "black") for r in rows])
        ax.scatter([r["min"] for r in rows], range(len(rows)), marker="|", color="black", s=80, zorder=3)
        for i, value in enumerate(medians):
            ax.text(value, i, f" {value:,.0f}", va="center", fontsize=7)
        ax.set_yticks(range(len(rows)), names, fontsize=8)
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
            ax.set_xlim(left=min(r["min"] for r in rows) / 3)
        ax.set_title(f"{case} ({rows[0]['unit']})", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    """results.json, output dir."""
    document = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    lateness(document, "delayed job start lateness", out / "delayed_lateness.png")
    lateness(document, "cron/interval fire lateness", out / "fire_lateness.png")
    bars(
        document,
        ["worker throughput", "enqueue, one call", "enqueue, bulk"],
        out / "throughput.png",
        "Throughput, no-op jobs (bar: median, tick: min)",
    )
    move_cases = sorted(
        {r["case"] for r in document["results"] if r["case"].startswith(("due-job", "cron pass"))}
    )
    bars(document, move_cases, out / "scheduler_pass.png", "One scheduler pass (log scale)", log=True)
    print(f"plots written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
