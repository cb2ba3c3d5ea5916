"""A real redis-server process for tests: free port, own data dir, stop and start again (AOF)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from rqstack.connection import free_port, redis_server_binary


@dataclass
class RedisServer:
    """A real redis-server process owned by one test session; can be stopped and started again."""

    directory: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis://127.0.0.1:<port>/0"""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server on the same port and data dir, and wait for PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
        ]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self, sig: int = 15) -> None:
        """Stop the server with ``sig`` (SIGTERM by default) and wait for it to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        """A new client (bytes responses, as RQ needs)."""
        return redis.Redis.from_url(self.url)
