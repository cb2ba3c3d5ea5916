"""Leader lease of the scheduler processes: one owner token, a fencing counter, Lua to renew and release."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import redis

from rqstack import constants
from rqstack.sched import scripts


def new_owner() -> str:
    """A token naming this process: host, pid and a random part (pids repeat across hosts)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Lease:
    """Acquire or renew the lease each tick; ``token`` grows with every new leader (fencing)."""

    def __init__(
        self,
        connection: redis.Redis,
        owner: str | None = None,
        lease_seconds: float = constants.SCHEDULER_LEASE_SECONDS,
    ) -> None:
        self.connection = connection
        self.owner = owner or new_owner()
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.token = 0

    def acquire(self) -> int:
        """Renew our lease or take a free one; the fence token when we lead, else 0."""
        return self.accept(scripts.run_many(self.connection, [self.acquire_command()])[0])

    def acquire_command(self) -> tuple[Any, ...]:
        """The command ``acquire`` sends, for a caller that sends it with others in one round trip."""
        return scripts.command(
            "acquire_lease",
            keys=[constants.SCHEDULER_LEADER_KEY, constants.SCHEDULER_FENCE_KEY],
            args=[self.owner, self.lease_ms],
        )

    def accept(self, reply: Any) -> int:
        """Take the reply of ``acquire_command``: the fence token when we lead, else 0."""
        self.token = int(reply or 0)
        return self.token

    def release(self) -> bool:
        """Give the lease up at once (graceful stop) so a follower need not wait for it to expire."""
        released = scripts.script(self.connection, "release_lease")(
            keys=[constants.SCHEDULER_LEADER_KEY], args=[self.owner]
        )
        self.token = 0
        return bool(released)

    def fence_args(self) -> list[str]:
        """The owner and token a fenced script checks."""
        return [self.owner, str(self.token)]
