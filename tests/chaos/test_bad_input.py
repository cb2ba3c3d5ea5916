"""Bad input at every door - CLI, HTTP API, schedule file, presets: a clear 4xx / exit 2, nothing written.

Each case runs against real processes (`python -m rqstack ...`, a real `rqstack dashboard`) and
compares a snapshot of every Redis key (DUMP of each value) before and after: DBSIZE unchanged is
not enough when a bad request could overwrite a key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from chaos.conftest import Chaos, Fleet, assert_no_traceback, http, snapshot, start_dashboard
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore

pytestmark = pytest.mark.timeout(120)

#: Above the documented 64 KiB limit of a job's JSON arguments.
HUGE = "x" * (64 * 1024 + 1)
ODD_NAMES = ["../x", "a:b", "ünïcødé", "n" * 129, "", " ", "a b", "a/b", "<script>"]
#: Durations whose seconds overflow datetime arithmetic.
ENORMOUS = "99999999999999999999d"


@pytest.fixture
def world(chaos: Chaos) -> Iterator[tuple[Fleet, redis.Redis]]:
    """The fleet and a client, with one existing schedule a bad request could damage."""
    client = chaos.client()
    ScheduleStore(client).create(Schedule(name="existing", job="demo.echo", cron="0 3 * * *"))
    yield chaos.fleet, client


CLI_CASES: dict[str, list[str]] = {
    "cron-malformed": ["cron", "add", "s", "demo.echo", "--cron", "* * *"],
    "cron-out-of-range": ["cron", "add", "s", "demo.echo", "--cron", "61 * * * *"],
    "cron-never-fires": ["cron", "add", "s", "demo.echo", "--cron", "0 0 31 2 *"],
    "cron-unknown-zone": ["cron", "add", "s", "demo.echo", "--cron", "0 3 * * *", "--tz", "Mars/Olympus"],
    "cron-unknown-job": ["cron", "add", "s", "no.such.job", "--cron", "0 3 * * *"],
    "cron-wrong-types": ["cron", "add", "s", "demo.add", "--every", "1m", "--kwargs", '{"a": "x", "b": 1}'],
    "cron-huge-args": ["cron", "add", "s", "demo.echo", "--every", "1m", "--args", json.dumps([HUGE])],
    "cron-invalid-json": ["cron", "add", "s", "demo.echo", "--every", "1m", "--kwargs", "{"],
    "cron-args-not-array": ["cron", "add", "s", "demo.echo", "--every", "1m", "--args", '{"a": 1}'],
    "cron-every-zero": ["cron", "add", "s", "demo.echo", "--every", "0s"],
    "cron-every-enormous": ["cron", "add", "s", "demo.echo", "--every", ENORMOUS],
    "cron-both-timings": ["cron", "add", "s", "demo.echo", "--every", "1m", "--cron", "0 3 * * *"],
    "cron-exists": ["cron", "add", "existing", "demo.echo", "--every", "1m"],
    "cron-bad-misfire": ["cron", "add", "s", "demo.echo", "--every", "1m", "--misfire", "sometimes"],
    "cron-remove-unknown": ["cron", "remove", "no-such"],
    "cron-next-malformed": ["cron", "next", "not cron"],
    "cron-next-never": ["cron", "next", "0 0 31 2 *"],
    "cron-next-zone": ["cron", "next", "0 3 * * *", "--tz", "Nowhere/City"],
    "cron-next-far-future": ["cron", "next", "* * * * *", "--from", "9999-12-31T23:59:00+00:00"],
    "enqueue-unknown-job": ["enqueue", "no.such.job"],
    "enqueue-wrong-types": ["enqueue", "demo.add", "one", "2"],
    "enqueue-missing-param": ["enqueue", "demo.add", "1"],
    "enqueue-huge-args": ["enqueue", "demo.echo", HUGE],
    "enqueue-invalid-json": ["enqueue", "demo.echo", "--kwargs", "[1,"],
    "enqueue-at-without-zone": ["enqueue", "demo.echo", "--at", "2030-01-01T03:00:00"],
    "enqueue-in-enormous": ["enqueue", "demo.echo", "--in", ENORMOUS],
    "enqueue-timeout-zero": ["enqueue", "demo.echo", "--timeout", "0s"],
    "enqueue-retry-negative": ["enqueue", "demo.echo", "--retry", "-1"],
    "job-show-unknown": ["job", "show", "no-such-job"],
    "job-cancel-unknown": ["job", "cancel", "no-such-job"],
    "presets-unknown": ["presets", "install", "no-such-preset"],
}
for index, odd in enumerate(ODD_NAMES):
    CLI_CASES[f"cron-odd-name-{index}"] = ["cron", "add", odd, "demo.echo", "--every", "1m"]
    CLI_CASES[f"cron-odd-queue-{index}"] = ["cron", "add", "s", "demo.echo", "--every", "1m", "--queue", odd]
    CLI_CASES[f"enqueue-odd-id-{index}"] = ["enqueue", "demo.echo", "--id", odd]
    CLI_CASES[f"enqueue-odd-queue-{index}"] = ["enqueue", "demo.echo", "--queue", odd]
    CLI_CASES[f"job-show-odd-{index}"] = ["job", "show", odd]


@pytest.mark.parametrize("args", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_cli_refuses_with_exit_2_and_writes_nothing(
    world: tuple[Fleet, redis.Redis], args: list[str]
) -> None:
    fleet, client = world
    before = snapshot(client)
    result = fleet.cli(*args)
    assert_no_traceback(result.stdout, result.stderr)
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    assert result.stderr.strip(), "no message says what was wrong"
    assert snapshot(client) == before


FILE_CASES: dict[str, str] = {
    "not-toml": "[[schedule]\nname = 'x'",
    "unknown-top-level": "[settings]\nzone = 'UTC'\n",
    "schedule-not-a-table-array": "schedule = 3\n",
    "unknown-field": "[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\ncolour='red'\n",
    "missing-job": "[[schedule]]\nname='f'\nevery='1m'\n",
    "malformed-cron": "[[schedule]]\nname='f'\njob='demo.echo'\ncron='* * *'\n",
    "never-fires": "[[schedule]]\nname='f'\njob='demo.echo'\ncron='0 0 31 2 *'\n",
    "unknown-zone": "[[schedule]]\nname='f'\njob='demo.echo'\ncron='0 3 * * *'\ntimezone='Mars/Olympus'\n",
    "unknown-job": "[[schedule]]\nname='f'\njob='no.such'\nevery='1m'\n",
    "wrong-types": "[[schedule]]\nname='f'\njob='demo.add'\nevery='1m'\nkwargs={a='x', b=1}\n",
    "huge-args": f"[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\nargs=['{HUGE}']\n",
    "odd-name": "[[schedule]]\nname='../x'\njob='demo.echo'\nevery='1m'\n",
    "odd-queue": "[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\nqueue='a:b'\n",
    "duplicate-name": "[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\n" * 2,
    "owner-set": "[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\nowner='cli'\n",
    "name-owned-by-cli": "[[schedule]]\nname='existing'\njob='demo.echo'\nevery='1m'\n",
    "datetime-argument": "[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\nargs=[1979-05-27T07:32:00Z]\n",
    "nan-argument": "[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\nargs=[nan]\n",
    "every-enormous": "[[schedule]]\nname='f'\njob='demo.echo'\nevery=1e300\n",
    "timeout-infinite": "[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\ntimeout=inf\n",
    "retry-interval-infinite": (
        "[[schedule]]\nname='f'\njob='demo.echo'\nevery='1m'\nretry=1\nretry_interval=inf\n"
    ),
    "good-then-bad": (
        "[[schedule]]\nname='good'\njob='demo.echo'\nevery='1h'\n\n"
        "[[schedule]]\nname='bad'\njob='demo.echo'\nevery=1e300\n"
    ),
}


@pytest.mark.parametrize("content", list(FILE_CASES.values()), ids=list(FILE_CASES))
def test_schedule_file_refused_as_a_whole(
    world: tuple[Fleet, redis.Redis], tmp_path: Path, content: str
) -> None:
    fleet, client = world
    path = tmp_path / "schedules.toml"
    path.write_text(content, encoding="utf-8")
    before = snapshot(client)
    for flags in (["--dry-run"], []):
        result = fleet.cli("schedules", "apply", str(path), *flags)
        assert_no_traceback(result.stdout, result.stderr)
        assert result.returncode == 2, (flags, result.returncode, result.stdout[-500:], result.stderr[-2000:])
        assert snapshot(client) == before


def test_presets_refuse_a_name_owned_by_someone_else(world: tuple[Fleet, redis.Redis]) -> None:
    fleet, client = world
    listed = fleet.cli("presets", "list")
    assert listed.returncode == 0, listed.stderr
    preset = listed.stdout.split()[0]
    taken = fleet.cli("cron", "add", preset, "demo.echo", "--every", "1h")
    assert taken.returncode == 0, taken.stderr
    before = snapshot(client)
    result = fleet.cli("presets", "install", preset)
    assert_no_traceback(result.stdout, result.stderr)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert snapshot(client) == before


# --- the HTTP API of a real `rqstack dashboard` -------------------------------------------------

JOB = {"job": "demo.echo", "args": ["hello"]}
SCHEDULE = {"name": "api-s", "job": "demo.echo", "cron": "0 3 * * *"}
API_CASES: dict[str, tuple[str, str, dict[str, object]]] = {
    "job-unknown": ("POST", "/api/jobs", {"json": {"job": "no.such"}}),
    "job-wrong-types": ("POST", "/api/jobs", {"json": {"job": "demo.add", "args": ["x", 1]}}),
    "job-args-not-list": ("POST", "/api/jobs", {"json": {**JOB, "args": "hello"}}),
    "job-huge-args": ("POST", "/api/jobs", {"json": {**JOB, "args": [HUGE]}}),
    "job-extra-field": ("POST", "/api/jobs", {"json": {**JOB, "colour": "red"}}),
    "job-retry-string": ("POST", "/api/jobs", {"json": {**JOB, "retry": "3"}}),
    "job-in-enormous": ("POST", "/api/jobs", {"json": {**JOB, "in": ENORMOUS}}),
    "job-in-number-enormous": ("POST", "/api/jobs", {"json": {**JOB, "in": 1e300}}),
    "job-timeout-negative": ("POST", "/api/jobs", {"json": {**JOB, "timeout": -5}}),
    "job-at-no-zone": ("POST", "/api/jobs", {"json": {**JOB, "at": "2030-01-01T00:00:00"}}),
    "job-invalid-json": ("POST", "/api/jobs", {"body": '{"job": ', "ctype": "application/json"}),
    "job-infinity": ("POST", "/api/jobs", {"body": '{"job": "demo.add", "args": [Infinity, 1]}'}),
    "job-deep-nesting": ("POST", "/api/jobs", {"body": "[" * 100_000 + "]" * 100_000}),
    "job-text-plain": ("POST", "/api/jobs", {"body": json.dumps(JOB), "ctype": "text/plain"}),
    "job-form": (
        "POST",
        "/api/jobs",
        {"body": "job=demo.echo", "ctype": "application/x-www-form-urlencoded"},
    ),
    "job-no-body": ("POST", "/api/jobs", {"body": "", "ctype": "application/json"}),
    "job-too-large": ("POST", "/api/jobs", {"body": json.dumps({**JOB, "pad": "y" * 1_100_000})}),
    "job-bulk-empty": ("POST", "/api/jobs", {"json": []}),
    "job-bulk-one-bad": ("POST", "/api/jobs", {"json": [JOB, {"job": "no.such"}]}),
    "job-bulk-not-objects": ("POST", "/api/jobs", {"json": [1, 2]}),
    "job-show-unknown": ("GET", "/api/jobs/no-such", {}),
    "job-cancel-unknown": ("POST", "/api/jobs/no-such/cancel", {}),
    "schedule-malformed-cron": ("POST", "/api/schedules", {"json": {**SCHEDULE, "cron": "* * *"}}),
    "schedule-never-fires": ("POST", "/api/schedules", {"json": {**SCHEDULE, "cron": "0 0 31 2 *"}}),
    "schedule-unknown-zone": ("POST", "/api/schedules", {"json": {**SCHEDULE, "timezone": "Mars/Olympus"}}),
    "schedule-unknown-job": ("POST", "/api/schedules", {"json": {**SCHEDULE, "job": "no.such"}}),
    "schedule-wrong-types": ("POST", "/api/schedules", {"json": {**SCHEDULE, "enabled": "yes"}}),
    "schedule-huge-args": ("POST", "/api/schedules", {"json": {**SCHEDULE, "args": [HUGE]}}),
    "schedule-long-description": ("POST", "/api/schedules", {"json": {**SCHEDULE, "description": "d" * 501}}),
    "schedule-every-enormous": (
        "POST",
        "/api/schedules",
        {"json": {"name": "e", "job": "demo.echo", "every": 1e300}},
    ),
    "schedule-timeout-infinite": (
        "POST",
        "/api/schedules",
        {"body": json.dumps({**SCHEDULE, "timeout": 1}).replace("1}", "Infinity}")},
    ),
    "schedule-exists": ("POST", "/api/schedules", {"json": {**SCHEDULE, "name": "existing"}}),
    "schedule-text-plain": ("POST", "/api/schedules", {"body": json.dumps(SCHEDULE), "ctype": "text/plain"}),
    "schedule-array": ("POST", "/api/schedules", {"json": [SCHEDULE]}),
    "schedule-patch-rename": ("PATCH", "/api/schedules/existing", {"json": {"name": "other"}}),
    "schedule-patch-bad-cron": ("PATCH", "/api/schedules/existing", {"json": {"cron": "0 0 30 2 *"}}),
    "schedule-put-unknown": ("PUT", "/api/schedules/no-such", {"json": SCHEDULE}),
    "schedule-delete-unknown": ("DELETE", "/api/schedules/no-such", {}),
    "schedule-run-unknown": ("POST", "/api/schedules/no-such/run", {}),
    "cron-next-malformed": ("GET", "/api/cron/next?expr=not+cron", {}),
    "cron-next-never": ("GET", "/api/cron/next?expr=0+0+31+2+*", {}),
    "cron-next-zone": ("GET", "/api/cron/next?expr=0+3+*+*+*&tz=Mars/Olympus", {}),
    "cron-next-n": ("GET", "/api/cron/next?expr=0+3+*+*+*&n=-1", {}),
    "cron-next-far-future": ("GET", "/api/cron/next?expr=*+*+*+*+*&from=9999-12-31T23:59:00Z", {}),
}
for index, odd in enumerate(ODD_NAMES):
    API_CASES[f"job-odd-id-{index}"] = ("POST", "/api/jobs", {"json": {**JOB, "id": odd}})
    API_CASES[f"job-odd-queue-{index}"] = ("POST", "/api/jobs", {"json": {**JOB, "queue": odd}})
    API_CASES[f"schedule-odd-name-{index}"] = ("POST", "/api/schedules", {"json": {**SCHEDULE, "name": odd}})
    API_CASES[f"schedule-odd-queue-{index}"] = (
        "POST",
        "/api/schedules",
        {"json": {**SCHEDULE, "queue": odd}},
    )


@pytest.fixture(scope="module")
def api_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, redis.Redis]]:
    """One real dashboard (open, loopback) for all API cases; each case compares snapshots itself."""
    from chaos.conftest import chaos_env
    from servers import RedisServer

    base_dir = tmp_path_factory.mktemp("api-bad-input")
    server = RedisServer(base_dir / "redis")
    server.start()
    logs = base_dir / "logs"
    logs.mkdir()
    fleet = Fleet(chaos_env(server.url, base_dir / "data"), logs)
    try:
        base = start_dashboard(fleet)
        client = server.client()
        ScheduleStore(client).create(Schedule(name="existing", job="demo.echo", cron="0 3 * * *"))
        yield base, client
    finally:
        fleet.stop_all()
        print(fleet.log_tail())
        server.stop()


@pytest.mark.parametrize("case", list(API_CASES.values()), ids=list(API_CASES))
def test_api_refuses_with_4xx_json_and_writes_nothing(
    api_world: tuple[str, redis.Redis], case: tuple[str, str, dict[str, object]]
) -> None:
    base, client = api_world
    method, path, spec = case
    headers = {}
    body: str | None = None
    if "json" in spec:
        body = json.dumps(spec["json"])
        headers["Content-Type"] = "application/json"
    elif "body" in spec:
        body = str(spec["body"])
        headers["Content-Type"] = str(spec.get("ctype", "application/json"))
    before = snapshot(client)
    reply = http(method, base + path, body=body, headers=headers)
    assert_no_traceback(reply.text)
    assert 400 <= reply.status < 500, (reply.status, reply.text[:1000])
    error = reply.json()["error"]
    assert error["code"] and error["message"], error
    assert snapshot(client) == before
