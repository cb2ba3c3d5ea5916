"""A fresh redis-server per measurement, so no figure inherits keys, memory or load from another."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from rqstack.connection import free_port, redis_server_binary


@dataclass(frozen=True)
class BenchRedis:
    """A running throwaway server: URL, port and the process that owns it."""

    url: str
    port: int
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        """A bytes client, as RQ needs."""
        return redis.Redis.from_url(self.url)


@contextlib.contextmanager
def fresh_redis() -> Iterator[BenchRedis]:
    """Start redis-server on a free loopback port (no persistence: every peer gets the same), then stop it."""
    directory = tempfile.mkdtemp(prefix="rqstack-bench-")
    port = free_port()
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        directory,
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxclients",
        "1000",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = BenchRedis(f"redis://127.0.0.1:{port}/0", port, process)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_ready(server: BenchRedis) -> None:
    client = redis.Redis(port=server.port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            client.close()
            return
        except redis.ConnectionError:
            time.sleep(0.01)
    raise RuntimeError(f"bench redis-server on port {server.port} did not answer PING within 10 s")
