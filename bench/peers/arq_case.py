"""arq peer (its own venv): one worker process (default max_jobs) and single enqueue."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import peer_common as common
from arq import create_pool
from arq.connections import RedisSettings

URL = os.environ["BENCH_REDIS_URL"]


async def noop(ctx: dict[str, Any], i: int) -> None:
    """Count one run of job i."""
    await ctx["redis"].hincrby(common.RUNS_KEY, str(i), 1)


class WorkerSettings:
    """`arq arq_case.WorkerSettings`."""

    functions = [noop]
    redis_settings = RedisSettings.from_dsn(URL)


async def _enqueue(n: int) -> float:
    pool = await create_pool(RedisSettings.from_dsn(URL))
    started = time.perf_counter()
    for i in range(n):
        await pool.enqueue_job("noop", i)
    elapsed = time.perf_counter() - started
    await pool.aclose()
    return elapsed


def main() -> None:
    """Run one case and print its JSON line."""
    args = common.arguments()
    connection = common.client(args.url)
    if args.case == "enqueue":
        elapsed = asyncio.run(_enqueue(args.n))
        queued = connection.zcard("arq:queue")
        common.emit(args.n / elapsed, queued == args.n, f"{queued}/{args.n} queued", {"seconds": elapsed})
    elif args.case == "worker":
        asyncio.run(_enqueue(args.n))
        worker = common.spawn([str(common.BIN / "arq"), "arq_case.WorkerSettings"], args.url)
        try:
            rate, seconds = common.throughput(connection, args.n, [worker])
            ok, counted = common.check_runs(connection, args.n)
        finally:
            common.stop(worker)
        common.emit(rate, ok, counted, {"seconds": seconds})
    else:
        raise SystemExit(f"unknown case {args.case}")


if __name__ == "__main__":
    # Run through the module name so tasks register as arq_case.*, the names workers import.
    import arq_case

    arq_case.main()
