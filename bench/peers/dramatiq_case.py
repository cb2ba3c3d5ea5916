"""dramatiq peer (its own venv): default worker (2 processes, 8 threads each) and single enqueue."""

from __future__ import annotations

import os
import time

import dramatiq
import peer_common as common
import redis
from dramatiq.brokers.redis import RedisBroker

URL = os.environ["BENCH_REDIS_URL"]
dramatiq.set_broker(RedisBroker(url=URL))
_client = redis.Redis.from_url(URL)

PROCESSES = 2


@dramatiq.actor(max_retries=0)
def noop(i: int) -> None:
    """Count one run of job i."""
    _client.hincrby(common.RUNS_KEY, str(i), 1)


def main() -> None:
    """Run one case and print its JSON line."""
    args = common.arguments()
    connection = common.client(args.url)
    if args.case == "enqueue":
        started = time.perf_counter()
        for i in range(args.n):
            noop.send(i)
        elapsed = time.perf_counter() - started
        queued = connection.hlen("dramatiq:default.msgs")
        common.emit(args.n / elapsed, queued == args.n, f"{queued}/{args.n} queued", {"seconds": elapsed})
    elif args.case == "worker":
        for i in range(args.n):
            noop.send(i)
        worker = common.spawn([str(common.BIN / "dramatiq"), "dramatiq_case", "-p", str(PROCESSES)], args.url)
        try:
            rate, seconds = common.throughput(connection, args.n, [worker])
            ok, counted = common.check_runs(connection, args.n)
        finally:
            common.stop(worker)
        common.emit(rate, ok, counted, {"seconds": seconds, "processes": PROCESSES})
    else:
        raise SystemExit(f"unknown case {args.case}")


if __name__ == "__main__":
    # Run through the module name so tasks register as dramatiq_case.*, the names workers import.
    import dramatiq_case

    dramatiq_case.main()
