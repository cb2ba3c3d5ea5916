"""Shared by the peer scripts, which run in their own venvs: stdlib + redis-py only, no rqstack.

Every script prints one JSON line: {"value", "counts_ok", "counted", "extra"}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RUNS_KEY = "bench:runs"
STARTS_KEY = "bench:starts"


def arguments() -> argparse.Namespace:
    """case, --url, --n, --fires, --workers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("case")
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--fires", type=int, default=10)
    parser.add_argument("--spacing", type=float, default=0.2)
    args = parser.parse_args()
    os.environ["BENCH_REDIS_URL"] = args.url
    return args


def client(url: str) -> redis.Redis:
    """A bytes client."""
    return redis.Redis.from_url(url)


def emit(value: float, counts_ok: bool, counted: str, extra: dict[str, Any] | None = None) -> None:
    """The one JSON line the harness reads."""
    print(
        json.dumps({"value": value, "counts_ok": counts_ok, "counted": counted, "extra": extra or {}}),
        flush=True,
    )


def spawn(argv: Sequence[str], url: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """A peer process with the bench environment (its output dropped)."""
    env = {**os.environ, "BENCH_REDIS_URL": url, "PYTHONPATH": str(HERE), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        list(argv),
        env=env,
        cwd=str(cwd or HERE),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal the process group (prefork children too), then kill what is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.002) -> bool:
    """Poll until true or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def throughput(
    connection: redis.Redis, n: int, processes: Sequence[subprocess.Popen[bytes]], timeout: float = 600.0
) -> tuple[float, float]:
    """Watch bench:runs fill up: (rate over jobs after the first, seconds)."""
    first = done = 0.0
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = connection.hlen(RUNS_KEY)
        now = time.monotonic()
        if count != last_count:
            last_count, last_change = count, now
        elif now - last_change > 60:
            break  # stalled: report what was done instead of waiting out the timeout
        if count and not first:
            first = now
        if count >= n:
            done = now
            break
        if all(p.poll() is not None for p in processes):
            break
        time.sleep(0.002)
    if not done:
        return 0.0, 0.0
    return ((n - 1) / (done - first) if done > first else 0.0), done - first


def run_enqueue_case(n: int, send: Callable[[int], object], queued: Callable[[], int]) -> None:
    """Time ``send(i)`` for i < n, count what the peer queued, and emit the rate."""
    started = time.perf_counter()
    for i in range(n):
        send(i)
    elapsed = time.perf_counter() - started
    count = queued()
    emit(n / elapsed, count == n, f"{count}/{n} queued", {"seconds": elapsed})


def run_worker_case(
    connection: redis.Redis,
    url: str,
    n: int,
    send: Callable[[int], object],
    worker_argv: Sequence[str],
    extra: dict[str, Any],
) -> None:
    """Queue n no-op jobs, start the peer's worker, and emit its throughput with the exactly-once count."""
    for i in range(n):
        send(i)
    worker = spawn(worker_argv, url)
    try:
        rate, seconds = throughput(connection, n, [worker])
        ok, counted = check_runs(connection, n)
    finally:
        stop(worker)
    emit(rate, ok, counted, {"seconds": seconds, **extra})


def check_runs(connection: redis.Redis, n: int) -> tuple[bool, str]:
    """Every job number ran exactly once."""
    time.sleep(0.3)  # a duplicate would land here
    runs = connection.hgetall(RUNS_KEY)
    once = sum(1 for v in runs.values() if v == b"1")
    extra = sum(int(v) - 1 for v in runs.values() if int(v) > 1)
    return once == n == len(runs) and extra == 0, f"{once}/{n} ran once, {extra} duplicates"


def starts(connection: redis.Redis) -> list[tuple[str, float]]:
    """(tag, start time) of every recorded start, in order."""
    out = []
    for raw in connection.lrange(STARTS_KEY, 0, -1):
        tag, started, *_ = raw.decode().split(" ")
        out.append((tag, float(started)))
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, as the harness computes it."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def distribution(late_ms: list[float]) -> dict[str, Any]:
    """p50/p95/max/early and the raw values (for plots)."""
    return {
        "p50_ms": percentile(late_ms, 50),
        "p95_ms": percentile(late_ms, 95),
        "max_ms": max(late_ms),
        "min_ms": min(late_ms),
        "early": sum(1 for v in late_ms if v < 0),
        "n": len(late_ms),
        "lateness_ms": [round(v, 3) for v in late_ms],
    }


def emit_delayed(connection: redis.Redis, due: dict[str, float]) -> None:
    """Lateness of every tagged start against its due instant, counted."""
    seen: dict[str, int] = {}
    late_ms = []
    for tag, started in starts(connection):
        seen[tag] = seen.get(tag, 0) + 1
        if tag in due:
            late_ms.append((started - due[tag]) * 1000)
    once = sum(1 for tag in due if seen.get(tag) == 1)
    duplicates = sum(c - 1 for c in seen.values() if c > 1)
    counted = f"{once}/{len(due)} ran once, {duplicates} duplicates"
    if not late_ms:
        emit(math.inf, False, counted)
        return
    emit(
        percentile([abs(v) for v in late_ms], 95),
        once == len(due) and duplicates == 0,
        counted,
        distribution(late_ms),
    )


def emit_fires(connection: redis.Redis, fires: int, interval: float = 1.0) -> None:
    """Fire lateness against the series first fire + k * interval (the anchor is the first start)."""
    recorded = [started for _, started in starts(connection)][: fires + 1]
    counted = f"{len(recorded)}/{fires + 1} fires"
    if len(recorded) < 2:
        emit(math.inf, False, counted)
        return
    anchor = recorded[0]
    late_ms = [(started - (anchor + k * interval)) * 1000 for k, started in enumerate(recorded)][1:]
    extra = distribution(late_ms)
    k = list(range(len(late_ms)))
    mean_k, mean_l = sum(k) / len(k), sum(late_ms) / len(late_ms)
    var = sum((x - mean_k) ** 2 for x in k) or 1.0
    extra["drift_ms_per_fire"] = (
        sum((x - mean_k) * (y - mean_l) for x, y in zip(k, late_ms, strict=False)) / var
    )
    extra["anchor"] = "first fire"
    emit(percentile([abs(v) for v in late_ms], 95), len(recorded) >= fires + 1, counted, extra)


def delayed_due(n: int, spacing: float, lead: float = 1.0) -> dict[str, float]:
    """Due instants spread over n * spacing seconds, with random sub-second parts."""
    import random

    start = time.time() + lead
    return {f"d{i}": start + i * spacing + random.uniform(0, spacing) for i in range(n)}
