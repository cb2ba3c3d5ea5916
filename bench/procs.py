"""Start and stop the worker and scheduler processes a case needs, and wait on Redis-side conditions."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench import rqstack_api

BIN = Path(sys.executable).parent


def rqstack(*args: str) -> list[str]:
    """argv of an `rqstack` command from this venv."""
    return [str(BIN / "rqstack"), *args]


def rq(*args: str) -> list[str]:
    """argv of a stock `rq` command from this venv."""
    return [str(BIN / "rq"), *args]


def rqscheduler(*args: str) -> list[str]:
    """argv of stock `rqscheduler` from this venv."""
    return [str(BIN / "rqscheduler"), *args]


def spawn(argv: Sequence[str], url: str) -> subprocess.Popen[bytes]:
    """Start ``argv`` with the bench environment; its output is dropped (the figures come from Redis)."""
    return subprocess.Popen(
        list(argv),
        env=rqstack_api.env(url),
        cwd=str(rqstack_api.REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: every process a case started ends with the case."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running(commands: Sequence[Sequence[str]], url: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes alive for the ``with`` block, stopped after it."""
    processes = [spawn(argv, url) for argv in commands]
    try:
        yield processes
    finally:
        for process in processes:
            stop(process)


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.002) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds; whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def compile_sources() -> None:
    """Write the bytecode of rqstack's and the bench's own modules, as installing a wheel does.

    The project is installed editable, and this machine sets PYTHONDONTWRITEBYTECODE, so without
    this every spawned rqstack process would compile its ~50 modules from source (~30 ms) while
    stock rq, installed from a wheel, loads bytecode. Sources newer than their bytecode are still
    compiled on import, so a stale cache can only make rqstack slower, never wrong.
    """
    import compileall

    import rqstack

    for package in (Path(rqstack.__file__).parent, Path(rqstack_api.__file__).parent):
        compileall.compile_dir(str(package), quiet=1)


def bare_interpreter_start(python: str = sys.executable, repeats: int = 5) -> float:
    """Median seconds of `python -c pass`: the part of any start-up no Python framework can avoid."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        timings.append(time.perf_counter() - started)
    return sorted(timings)[len(timings) // 2]
