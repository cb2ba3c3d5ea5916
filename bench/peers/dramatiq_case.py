"""dramatiq peer (its own venv): default worker (2 processes, 8 threads each) and single enqueue."""

from __future__ import annotations

import os

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
        common.run_enqueue_case(args.n, noop.send, lambda: connection.hlen("dramatiq:default.msgs"))
    elif args.case == "worker":
        argv = [str(common.BIN / "dramatiq"), "dramatiq_case", "-p", str(PROCESSES)]
        common.run_worker_case(connection, args.url, args.n, noop.send, argv, {"processes": PROCESSES})
    else:
        raise SystemExit(f"unknown case {args.case}")


if __name__ == "__main__":
    # Run through the module name so tasks register as dramatiq_case.*, the names workers import.
    import dramatiq_case

    dramatiq_case.main()
