"""Demo jobs so a new user can try the stack at once: echo, sleep with progress, fail."""

from __future__ import annotations

import time
from typing import Any

from rqstack.worker.jobs.registry import job
from rqstack.worker.progress import report_progress


@job("demo.echo", description="Return the arguments it was given")
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Return the arguments it was given."""
    return {"args": list(args), "kwargs": kwargs}


@job("demo.sleep", description="Sleep for a number of seconds, reporting progress each step")
def sleep(seconds: float = 1.0, steps: int = 10) -> float:
    """Sleep for ``seconds``, reporting progress ``steps`` times."""
    steps = max(1, steps)
    for step in range(steps):
        report_progress(step, steps, f"sleeping ({step}/{steps})")
        time.sleep(seconds / steps)
    report_progress(steps, steps, "done")
    return seconds


@job("demo.fail", description="Raise an error with the given message")
def fail(message: str = "demo.fail was asked to fail") -> None:
    """Raise RuntimeError(message): try retries and alerts with it."""
    raise RuntimeError(message)


@job("demo.add", description="Add two numbers")
def add(a: float, b: float) -> float:
    """Return a + b."""
    return a + b
