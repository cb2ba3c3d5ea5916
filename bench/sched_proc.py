"""Stand-in for `rqstack scheduler` while the command is not there yet: the library's run loop."""

from __future__ import annotations

import os
import signal
from types import FrameType

import redis


def main() -> None:
    """Run ``rqstack.sched.loop.Scheduler`` against REDIS_URL until SIGTERM."""
    from rqstack.sched.loop import Scheduler

    scheduler = Scheduler(redis.Redis.from_url(os.environ["REDIS_URL"]))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.request_stop()

    signal.signal(signal.SIGTERM, stop)
    scheduler.run()


if __name__ == "__main__":
    main()
