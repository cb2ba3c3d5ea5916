"""Slow down token guessing: after a few wrong tokens an address must wait a minute."""

from __future__ import annotations

import threading
import time
from collections import deque

#: Wrong tokens allowed per address within WINDOW_SECONDS before it gets 429.
MAX_FAILURES = 10
WINDOW_SECONDS = 60.0


class FailureThrottle:
    """Counts recent failures per key (the client address), thread-safe, in this process."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: str, now: float | None = None) -> bool:
        """True while ``key`` has used up its failures in the window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._prune(key, now)
            return recent is not None and len(recent) >= self.limit

    def fail(self, key: str, now: float | None = None) -> None:
        """Record one wrong token from ``key``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._prune(key, now)
            self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > 10_000:  # a flood of addresses must not grow memory without end
                self._failures.pop(next(iter(self._failures)))

    def _prune(self, key: str, now: float) -> deque[float] | None:
        recent = self._failures.get(key)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if recent is not None and not recent:
            del self._failures[key]
            return None
        return recent
