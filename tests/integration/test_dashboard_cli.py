"""`rqstack dashboard`: refuses to listen beyond loopback without a token, serves with waitress otherwise."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from rqstack.cli import main
from rqstack.connection import free_port


def test_refuses_a_public_bind_without_token(
    redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RQSTACK_DASHBOARD_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["dashboard", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "RQSTACK_DASHBOARD_TOKEN" in result.output


def test_serves_on_loopback(redis_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {**redis_env}
    env.pop("RQSTACK_DASHBOARD_TOKEN", None)
    with (tmp_path / "dashboard.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rqstack", "dashboard", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as response:
                    assert response.status == 200
                    assert response.headers["X-Frame-Options"] == "DENY"
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "dashboard.log").read_text()
                time.sleep(0.1)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
