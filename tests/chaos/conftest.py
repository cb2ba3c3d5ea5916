"""Shared helpers of the chaos tier: process fleets, a real redis-server per test, HTTP, Redis snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from chaos.jobs import RAN_KEY, STARTED_KEY
from rqstack import constants
from rqstack.connection import free_port
from rqstack.worker.enqueue import EnqueueRequest, prepare
from rqstack.worker.job_hash import template_fields
from rqstack.worker.jobs.registry import load_jobs
from servers import RedisServer

TESTS_DIR = Path(__file__).resolve().parents[1]
#: The module of the chaos jobs, importable in subprocesses through PYTHONPATH=tests.
JOB_MODULE = "chaos.jobs"
#: A behaviour promise of the issue: no job stays "started" longer than this after its worker died.
STUCK_BOUND_SECONDS = 60.0
#: A behaviour promise of the issue: every process works again this soon after Redis returns.
RECONNECT_BOUND_SECONDS = 10.0
#: Worker flags for short heartbeats, so a dead worker's jobs are reaped in ~1-2 s instead of ~25 s.
FAST_BEAT = ("--heartbeat", "0.2s", "--heartbeat-ttl", "1s")
#: A reaper pass every 0.2 s, so a dead worker's jobs are settled soon after its 1 s TTL lapses.
FAST_REAP = {"RQSTACK_REAPER_INTERVAL": "0.2s"}


def wait_for(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.02) -> float:
    """Seconds until ``predicate()`` is truthy; fails the test naming ``what`` after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - start


def chaos_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of rqstack subprocesses: this Redis, the chaos jobs importable, unbuffered logs."""
    python_path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "REDIS_URL": url,
        "RQSTACK_DATA_DIR": str(data_dir),
        "RQSTACK_JOBS": JOB_MODULE,
        "PYTHONPATH": python_path,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@dataclass
class Fleet:
    """`python -m rqstack ...` processes of one test, each logging to a file; all killed at the end."""

    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _count: int = 0

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A long-running ``rqstack ARGS`` process."""
        self._count += 1
        path = self.logs / f"{self._count:03d}-{args[0]}.log"
        with path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "rqstack", *args],
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def cli(
        self, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``rqstack ARGS`` to completion and capture its output."""
        return subprocess.run(
            [sys.executable, "-m", "rqstack", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            input=stdin,
        )

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL ``process`` and reap it."""
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of every log, for failure messages."""
        out = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop_all(self) -> None:
        """SIGKILL whatever still runs (horses die with their worker through PDEATHSIG)."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(timeout=10)


@dataclass
class Chaos:
    """One test's world: its own redis-server (AOF on, stoppable) and its rqstack processes."""

    server: RedisServer
    fleet: Fleet

    def client(self) -> redis.Redis:
        """A new client of this test's Redis."""
        return self.server.client()


@pytest.fixture
def chaos(own_redis: RedisServer, tmp_path: Path) -> Iterator[Chaos]:
    """A redis-server of this test and a fleet of rqstack processes using it, with the chaos jobs."""
    load_jobs((JOB_MODULE,))
    logs = tmp_path / "logs"
    logs.mkdir()
    fleet = Fleet(chaos_env(own_redis.url, tmp_path / "data"), logs)
    try:
        yield Chaos(own_redis, fleet)
    finally:
        fleet.stop_all()
        print(fleet.log_tail())  # shown by pytest only when the test failed
        print(redis_summary(own_redis))


def report(case: str, **measured: Any) -> None:
    """Print a measurement; append it as a JSON line to $RQSTACK_CHAOS_REPORT (docs/reliability.md)."""
    line = json.dumps({"case": case, **measured}, sort_keys=True, default=str)
    print(f"chaos measurement: {line}")
    target = os.environ.get("RQSTACK_CHAOS_REPORT")
    if target:
        with open(target, "a") as out:
            out.write(line + "\n")


# --- what Redis says ----------------------------------------------------------------------------


def redis_summary(server: RedisServer, limit: int = 20) -> str:
    """Queues, registries and the first job statuses, for failure messages."""
    if server.process is None:
        return "redis-server is stopped"
    client = server.client()
    lines = [f"started={client.lrange(STARTED_KEY, 0, limit)} ran={client.lrange(RAN_KEY, 0, limit)}"]
    for key in sorted(client.scan_iter("rq:*", count=1000))[:200]:
        kind = client.type(key)
        if kind == b"list":
            lines.append(f"{key.decode()} list {client.lrange(key, 0, limit)}")
        elif kind == b"zset":
            lines.append(f"{key.decode()} zset {client.zrange(key, 0, limit, withscores=True)}")
        elif key.startswith(b"rq:job:"):
            lines.append(f"{key.decode()} status={client.hget(key, 'status')}")
    return "\n".join(lines[:100])


def text(value: bytes | str | None) -> str | None:
    """Decode a Redis reply."""
    return value.decode() if isinstance(value, bytes) else value


def job_status(client: redis.Redis, job_id: str) -> str:
    """The job's RQ status, ``missing`` when its hash is gone."""
    return text(client.hget(constants.RQ_JOB_KEY_PREFIX + job_id, "status")) or "missing"


def statuses(chaos: Chaos, ids: list[str]) -> dict[str, str]:
    """Each job's RQ status (``missing`` for a job hash that is gone)."""
    client = chaos.client()
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(constants.RQ_JOB_KEY_PREFIX + job_id, "status")
        return {job_id: text(s) or "missing" for job_id, s in zip(ids, pipe.execute(), strict=True)}


def wait_settled(chaos: Chaos, ids: list[str], timeout: float, what: str) -> dict[str, str]:
    """Wait until every job of ``ids`` is finished or failed; their statuses then."""
    wait_for(
        lambda: all(s in ("finished", "failed") for s in statuses(chaos, ids).values()),
        timeout,
        what,
        poll=0.2,
    )
    return statuses(chaos, ids)


def started_runs(client: redis.Redis) -> Counter[str]:
    """How many times each chaos job began."""
    return Counter(i.decode() for i in client.lrange(STARTED_KEY, 0, -1))


def finished_runs(client: redis.Redis) -> Counter[str]:
    """How many times each chaos job ran to its end."""
    return Counter(i.decode() for i in client.lrange(RAN_KEY, 0, -1))


def last_error(client: redis.Redis, job_id: str) -> str:
    """The exception text of the job's latest result (RQ stores it zlib-compressed, base64)."""
    import base64
    import zlib

    entries = client.xrevrange(constants.RQ_RESULTS_KEY_PREFIX + job_id, count=1)
    if not entries or b"exc_string" not in entries[0][1]:
        return ""
    return zlib.decompress(base64.b64decode(entries[0][1][b"exc_string"])).decode()


def snapshot(client: redis.Redis) -> dict[str, Any]:
    """Every key with its type and a digest of its value: equal snapshots mean nothing was written."""
    out: dict[str, Any] = {}
    for key in sorted(client.scan_iter(count=1000)):
        out[key.decode()] = client.dump(key)
    return out


def mark(client: redis.Redis, seconds: float, *, retry: int = 0, job_id: str | None = None) -> str:
    """Enqueue ``chaos.mark(seconds)`` with a timeout well above ``seconds``; its id."""
    from rqstack.worker.enqueue import enqueue

    kwargs = {"seconds": seconds}
    timeout = max(180.0, seconds + 60)
    request = EnqueueRequest("chaos.mark", kwargs=kwargs, retry=retry, job_id=job_id, timeout=timeout)
    return enqueue(client, request).job_id


def bulk_enqueue(
    client: redis.Redis,
    job: str,
    ids: Sequence[str],
    *,
    chunk: int = 5000,
    kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Queue ``job`` (with ``kwargs``) under each id, pipelined: the hash a single enqueue writes, in bulk."""
    prepared = prepare(EnqueueRequest(job, kwargs=dict(kwargs or {})))
    fields = template_fields(prepared)
    queue_key = constants.RQ_QUEUE_KEY_PREFIX + prepared.queue
    client.sadd(constants.RQ_QUEUES_KEY, queue_key)
    stamp = now_rq()
    for start in range(0, len(ids), chunk):
        with client.pipeline(transaction=False) as pipe:
            for job_id in ids[start : start + chunk]:
                pipe.hset(
                    constants.RQ_JOB_KEY_PREFIX + job_id,
                    items=[*fields, "created_at", stamp, "enqueued_at", stamp],
                )
            pipe.rpush(queue_key, *ids[start : start + chunk])
            pipe.execute()


def now_rq() -> str:
    """Now in RQ's timestamp format."""
    from datetime import UTC, datetime

    from rq.utils import utcformat

    return utcformat(datetime.now(UTC))


def duplicates(ids: Iterable[str]) -> dict[str, int]:
    """Ids seen more than once, with their counts."""
    return {i: n for i, n in Counter(ids).items() if n > 1}


# --- HTTP against a real `rqstack dashboard` ---------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, 4xx/5xx included."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode(errors="replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(
    method: str,
    url: str,
    *,
    body: bytes | str | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    token: str | None = None,
) -> Reply:
    """One request without following redirects; never raises on an error status."""
    data = body.encode() if isinstance(body, str) else body
    all_headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with _OPENER.open(request, timeout=15) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read())


class Session:
    """A browser-like client of one dashboard: keeps cookies, logs in through the form with its CSRF token."""

    def __init__(self, base: str) -> None:
        import http.cookiejar

        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)
        self.csrf = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request with this session's cookies; never raises on an error status."""
        from urllib.parse import urlencode

        data = None if form is None else urlencode(form).encode()
        all_headers = dict(headers or {})
        if form is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=all_headers)
        try:
            with self.opener.open(request, timeout=15) as response:
                return Reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, dict(exc.headers), exc.read())

    def login(self, token: str) -> None:
        """Sign in with the dashboard token, as a person would."""
        import re

        page = self.request("GET", "/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        self.csrf = found.group(1)
        done = self.request("POST", "/login", form={"password": token, "csrf_token": self.csrf})
        assert done.status == 302, (done.status, done.text[:500])
        overview = self.request("GET", "/")  # the login starts a fresh session with a new CSRF token
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', overview.text)
        assert found, overview.text[:500]
        self.csrf = found.group(1)


def healthy(base: str) -> bool:
    """True when /api/health answers 200."""
    try:
        return http("GET", base + "/api/health").status == 200
    except OSError:
        return False


def start_dashboard(fleet: Fleet, env: Mapping[str, str] | None = None) -> str:
    """A real `rqstack dashboard` on a free port; its base URL once /api/health answers."""
    port = free_port()
    fleet.start("dashboard", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: healthy(base), 30, "the dashboard to answer /api/health", poll=0.1)
    return base


def assert_no_traceback(*outputs: str) -> None:
    """Bad input is answered with a message, never with a Python traceback."""
    for output in outputs:
        assert "Traceback (most recent call last)" not in output, output[-3000:]
