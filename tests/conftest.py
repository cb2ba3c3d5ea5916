"""Fixtures shared by every tier: a throwaway redis-server on a free port that tests may kill."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from servers import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole session; tests get a flushed database through ``connection``."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def connection(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client to a flushed database of the session's redis-server."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (AOF on), for tests that stop and restart it."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_env(redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for rqstack commands and subprocesses pointing at the session's redis-server."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("RQSTACK_DATA_DIR", str(tmp_path / "data"))
    return {**os.environ, "REDIS_URL": redis_server.url, "RQSTACK_DATA_DIR": str(tmp_path / "data")}
