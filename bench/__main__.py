"""`python -m bench [--quick] [--peers] [--only CASE...]`: every case, its own redis-server each time."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Callable

from bench import procs, report
from bench.config import Config
from bench.core import Row, measure

CASES = ("sched", "lateness", "workers", "enqueue", "memory")


def _runner(name: str) -> Callable[[Config], list[Row]]:
    if name == "sched":
        from bench.cases import sched_pass

        return sched_pass.run
    if name == "lateness":
        from bench.cases import lateness

        return lateness.run
    if name == "workers":
        from bench.cases import workers

        return workers.run
    if name == "enqueue":
        from bench.cases import enqueue

        return enqueue.run
    from bench.cases import memory

    return memory.run


def main(argv: list[str] | None = None) -> int:
    """Run the cases, print the table, write results/latest.json; exit 1 when any count was wrong."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, rqstack and stock only (CI smoke)")
    parser.add_argument("--peers", action="store_true", help="also huey, dramatiq, Celery (+RedBeat) and arq")
    parser.add_argument("--only", nargs="+", choices=(*CASES, "peers"), help="run only these case groups")
    parser.add_argument("--json", default=str(report.LATEST), help="where to write the JSON results")
    parser.add_argument(
        "--plot",
        metavar="JSON",
        nargs="?",
        const=str(report.LATEST),
        help="only draw bench/plots/*.png from a results JSON (default: latest.json)",
    )
    parser.add_argument("--markdown", metavar="JSON", help="only print a results JSON as a Markdown table")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    # rq-scheduler's croniter/crontab calls warn on every cron entry; the figures are what matters here.
    warnings.filterwarnings("ignore")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    for noisy in ("rq", "rq_scheduler", "rqstack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.markdown:
        meta, loaded = report.load(__import__("pathlib").Path(args.markdown))
        print(f"<!-- {meta} -->")
        print(report.render(loaded, markdown=True))
        return 0
    if args.plot:
        return _plot(args.plot)
    config = Config.quick_run() if args.quick else Config.full(peers=args.peers)
    selected = args.only or [*CASES, *(["peers"] if args.peers else [])]
    procs.compile_sources()
    started = time.monotonic()
    rows: list[Row] = []
    for name in CASES:
        if name in selected:
            rows.extend(_runner(name)(config))
    if "peers" in selected and not config.quick:
        from bench.peers import run_peers

        # Built before the clock matters: a pip install in the middle of a case would slow its rows.
        run_peers.prepare_venvs()
        rows.extend(run_peers.run(config))
    results = measure(rows, config.repeats)
    seconds = time.monotonic() - started
    print(report.render(results))
    path = report.write_json(
        results,
        report.machine_meta(quick=config.quick, peers=config.peers, seconds=seconds),
        __import__("pathlib").Path(args.json),
    )
    wrong = [r for r in results if r.status == "ok" and not r.counts_ok]
    failed = [r for r in results if r.status == "failed"]
    print(
        f"\n{len(results)} rows in {seconds:.1f} s; counts wrong in {len(wrong)}, failed {len(failed)}; "
        f"JSON: {path}"
    )
    return 1 if wrong else 0


def _plot(results: str) -> int:
    import subprocess
    from pathlib import Path

    from bench import venvs

    python = venvs.ensure(venvs.PLOT)
    here = Path(__file__).resolve().parent
    return subprocess.run(
        [str(python), str(here / "plot.py"), results, str(here / "plots")], check=False
    ).returncode


if __name__ == "__main__":
    raise SystemExit(main())
