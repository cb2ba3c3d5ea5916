"""huey peer (its own venv): thread consumer throughput and single enqueue, same job bodies as rqstack's."""

from __future__ import annotations

import os

import peer_common as common
import redis
from huey import RedisHuey

huey = RedisHuey("bench", url=os.environ["BENCH_REDIS_URL"])
_client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])

THREADS = 4


@huey.task()
def noop(i: int) -> None:
    """Count one run of job i."""
    _client.hincrby(common.RUNS_KEY, str(i), 1)


def main() -> None:
    """Run one case and print its JSON line."""
    args = common.arguments()
    connection = common.client(args.url)
    if args.case == "enqueue":
        common.run_enqueue_case(args.n, noop, huey.pending_count)
    elif args.case == "worker":
        argv = [str(common.BIN / "huey_consumer"), "huey_case.huey", "-k", "thread", "-w", str(THREADS), "-q"]
        common.run_worker_case(connection, args.url, args.n, noop, argv, {"threads": THREADS})
    else:
        raise SystemExit(f"unknown case {args.case}")


if __name__ == "__main__":
    # Run through the module name so tasks register as huey_case.*, the names workers import.
    import huey_case

    huey_case.main()
