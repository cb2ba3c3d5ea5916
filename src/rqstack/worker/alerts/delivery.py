"""Deliver to several channels at once, each retried with backoff inside one time budget; never raise."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

from rqstack.worker.alerts.channels import DeliveryError

logger = logging.getLogger(__name__)

#: One attempt: gets the seconds it may take, raises DeliveryError (or anything) on failure.
Send = Callable[[float], None]


class Channel(NamedTuple):
    """A send and the place it goes (URL or server), which names its circuit breaker."""

    send: Send
    target: str


#: Circuit breaker per (channel, target): until this monotonic time, skip it instead of waiting on it.
_paused_until: dict[str, float] = {}
_paused_lock = threading.Lock()


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try: attempts, exponential backoff, a per-attempt timeout and a total deadline."""

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0
    attempt_timeout: float = 5.0
    #: The whole delivery, all channels, ends within this; a worker is never held for long.
    deadline: float = 20.0
    #: After a channel failed for good, later alerts skip it this long instead of each waiting on it.
    pause_after_failure: float = 60.0

    def delay(self, attempt: int) -> float:
        """Wait before attempt number ``attempt + 1`` (attempt counts from 1)."""
        return min(self.max_delay, self.first_delay * 2.0 ** (attempt - 1))


DEFAULT_POLICY = DeliveryPolicy()


@dataclass(frozen=True)
class Outcome:
    """What happened on one channel."""

    channel: str
    ok: bool
    attempts: int
    error: str | None = None


def deliver_one(
    channel: str, send: Send, policy: DeliveryPolicy, *, deadline: float | None = None
) -> Outcome:
    """Try ``send`` until it succeeds, fails for good, or time runs out; log the final failure."""
    end = deadline if deadline is not None else time.monotonic() + policy.deadline
    attempt = 0
    error = "no attempt was made"
    while attempt < policy.attempts:
        remaining = end - time.monotonic()
        if remaining <= 0:
            error += " (time budget used up)"
            break
        attempt += 1
        try:
            send(min(policy.attempt_timeout, remaining))
        except DeliveryError as exc:
            error = exc.message
            if not exc.retryable:
                break
            wait = max(policy.delay(attempt), min(exc.retry_after or 0.0, policy.max_delay))
        except Exception as exc:  # a bug or an odd library error must not escape into the job
            error = f"{type(exc).__name__}: {exc}"
            wait = policy.delay(attempt)
        else:
            if attempt > 1:
                logger.info("alert via %s delivered on attempt %s", channel, attempt)
            return Outcome(channel, True, attempt)
        if attempt < policy.attempts:
            logger.debug("alert via %s failed (%s); retrying in %.2fs", channel, error, wait)
            time.sleep(max(0.0, min(wait, end - time.monotonic())))
    logger.warning("alert via %s not delivered after %s attempt(s): %s", channel, attempt, error)
    return Outcome(channel, False, attempt, error)


def deliver_all(
    sends: Mapping[str, Send | Channel], policy: DeliveryPolicy = DEFAULT_POLICY
) -> dict[str, Outcome]:
    """Deliver on every channel in parallel so a dead one does not delay the others."""
    if not sends:
        return {}
    deadline = time.monotonic() + policy.deadline
    if len(sends) == 1:
        ((name, send),) = sends.items()
        return {name: _guarded(name, send, policy, deadline)}
    with ThreadPoolExecutor(max_workers=len(sends), thread_name_prefix="rqstack-alert") as pool:
        futures = {name: pool.submit(_guarded, name, send, policy, deadline) for name, send in sends.items()}
        return {name: future.result() for name, future in futures.items()}


def reset_pauses() -> None:
    """Forget every paused channel (after fixing a channel, and between tests)."""
    with _paused_lock:
        _paused_until.clear()


def _guarded(name: str, send: Send | Channel, policy: DeliveryPolicy, deadline: float) -> Outcome:
    if not isinstance(send, Channel):
        return deliver_one(name, send, policy, deadline=deadline)
    key = f"{name} {send.target}"
    with _paused_lock:
        until = _paused_until.get(key, 0.0)
    if until > time.monotonic():
        logger.warning("alert via %s skipped: it failed less than %ss ago", name, policy.pause_after_failure)
        return Outcome(
            name, False, 0, f"skipped: {name} failed within the last {policy.pause_after_failure:g}s"
        )
    outcome = deliver_one(name, send.send, policy, deadline=deadline)
    with _paused_lock:
        if outcome.ok or policy.pause_after_failure <= 0:
            _paused_until.pop(key, None)
        else:
            _paused_until[key] = time.monotonic() + policy.pause_after_failure
    return outcome
