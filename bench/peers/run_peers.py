"""Run each peer's script with the peer's own venv python against a fresh redis-server, as Measurements."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

from bench import venvs
from bench.config import Config
from bench.core import Row, Sample, Unavailable, row
from bench.server import BenchRedis

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
WORKER = "worker throughput, no-op jobs"
ENQUEUE = "enqueue, one call per job"
DELAYED = "delayed job start lateness"
FIRES = "cron/interval fire lateness"

# (peer, script case, bench case, implementation label, unit, better)
PLAN = [
    ("huey", "worker", WORKER, "huey thread consumer -k thread -w 4, 1 process", "jobs/s", "higher"),
    ("dramatiq", "worker", WORKER, "dramatiq default (2 processes x 8 threads)", "jobs/s", "higher"),
    ("celery", "worker", WORKER, "Celery prefork -c2", "jobs/s", "higher"),
    ("arq", "worker", WORKER, "arq worker, 1 process", "jobs/s", "higher"),
    ("huey", "enqueue", ENQUEUE, "huey task() call", "jobs/s", "higher"),
    ("dramatiq", "enqueue", ENQUEUE, "dramatiq actor.send()", "jobs/s", "higher"),
    ("celery", "enqueue", ENQUEUE, "Celery task.delay()", "jobs/s", "higher"),
    ("arq", "enqueue", ENQUEUE, "arq enqueue_job()", "jobs/s", "higher"),
    ("celery", "countdown", DELAYED, "Celery apply_async(eta=), prefork -c2", "ms p95 |dev|", "lower"),
    ("celery", "beat", FIRES, "Celery beat interval 1s (vs first fire + k s)", "ms p95 |dev|", "lower"),
    ("celery", "redbeat", FIRES, "RedBeat interval 1s (vs first fire + k s)", "ms p95 |dev|", "lower"),
]


def run(config: Config) -> list[Row]:
    """Every peer row; a peer whose venv cannot be built shows as unavailable."""
    out = []
    for peer, script_case, case, label, unit, better in PLAN:
        size = {"worker": config.worker_jobs, "enqueue": config.enqueue_jobs}.get(
            script_case, config.delayed_samples
        )
        out.append(
            row(
                case,
                label,
                "peer",
                unit,
                better,  # type: ignore[arg-type]
                lambda s, p=peer, c=script_case, n=size: _run_script(s, p, c, n, config),
            )
        )
    return out


def _run_script(server: BenchRedis, peer: str, case: str, n: int, config: Config) -> Sample:
    try:
        python = venvs.ensure(venvs.PEERS[peer])
    except (subprocess.CalledProcessError, OSError) as exc:
        raise Unavailable(f"could not build the {peer} venv ({exc})") from None
    argv = [
        str(python),
        str(HERE / f"{peer}_case.py"),
        case,
        "--url",
        server.url,
        "--n",
        str(n),
        "--fires",
        str(config.fires),
        "--spacing",
        str(config.delayed_spacing),
    ]
    env = {"BENCH_REDIS_URL": server.url, "PATH": str(python.parent), "PYTHONPATH": str(HERE)}
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=900, env=env, cwd=str(HERE), check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{peer} {case} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    data = json.loads(lines[-1])
    return Sample(float(data["value"]), bool(data["counts_ok"]), str(data["counted"]), dict(data["extra"]))


def prepare_venvs() -> None:
    """Build every peer venv that is missing; one that cannot be built shows as unavailable later."""
    for spec in venvs.PEERS.values():
        try:
            venvs.ensure(spec)
        except (subprocess.CalledProcessError, OSError) as exc:
            logger.warning("could not build the %s venv (%s); its rows will say so", spec.name, exc)
