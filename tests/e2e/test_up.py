"""`rqstack up` as a user runs it: embedded Redis, a job enqueued from a second terminal, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from rqstack.connection import free_port


def rqstack(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rqstack", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def processes_with(marker: str) -> list[int]:
    """Pids whose environment mentions ``marker`` (our unique data dir): children, workers, redis."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ or marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_up_runs_the_stack_on_embedded_redis_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "stackdata"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(RQSTACK_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    port = free_port()
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "rqstack", "up", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: health_ok(port), 30, "the dashboard to answer /api/health")
        enqueued = rqstack("enqueue", "demo.add", "2", "3", env=env, cwd=tmp_path)
        assert enqueued.returncode == 0, enqueued.stderr
        job_id = enqueued.stdout.strip()

        def finished() -> bool:
            shown = rqstack("job", "show", job_id, "--json", env=env, cwd=tmp_path)
            return shown.returncode == 0 and json.loads(shown.stdout)["status"] == "finished"

        wait_for(finished, 30, "the job to finish")
        result = json.loads(rqstack("job", "show", job_id, "--json", env=env, cwd=tmp_path).stdout)
        assert result["result"] == 5
        status = json.loads(rqstack("status", "--json", env=env, cwd=tmp_path).stdout)
        assert status["redis"]["embedded"] is True
        assert len(status["workers"]) == 1
    finally:
        up.send_signal(signal.SIGINT)
        returncode = up.wait(timeout=30)
    output = log_path.read_text()
    assert returncode == 0, output
    for prefix in ("web", "worker.1", "scheduler"):
        assert f"{prefix} " in output and "|" in output, output
    wait_for(lambda: not processes_with(str(data_dir)), 10, "every child and the embedded redis to exit")
    assert (data_dir / "appendonly.aof").exists()
