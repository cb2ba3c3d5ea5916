"""Hypothesis fuzzes `rqstack schedules apply`: random TOML documents and field values.

Whatever the file holds, the command exits 0 or 2 (never a crash or traceback); exit 2 leaves Redis
exactly as it was (no partial write); exit 0 stores every schedule of the file, and a scheduler tick
afterwards fires them or records why it cannot - it never raises.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chaos.conftest import snapshot
from rqstack.cli import main
from rqstack.sched.filesync import file_owner
from rqstack.sched.loop import Scheduler
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.worker.jobs.registry import load_jobs
from servers import RedisServer

pytestmark = pytest.mark.timeout(240)

NAMES = st.one_of(
    st.sampled_from(["nightly", "a", "n" * 128, "n" * 129, "", "../x", "a:b", "ünï", "existing"]),
    st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
    st.text(max_size=12),
)
CRONS = st.one_of(
    st.sampled_from(
        [
            "0 3 * * *",
            "* * * * * *",
            "*/5 * * * *",
            "0 0 31 2 *",
            "@hourly",
            "@every 5m",
            "* * *",
            "61 * * * *",
            "0 0 29 2 1",
            "0 0 1 1 * 2099",
            "H * * * *",
            "",
        ]
    ),
    st.text(alphabet="0123456789*/,- LW#?abcdefjmnorstuvwy@", max_size=30),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 1e300, -1.0, 0.5, 2**63]),
)
DURATIONS = st.one_of(
    NUMBERS,
    st.sampled_from(["1s", "0s", "10m", "1h30m", "500ms", "1e300", "99999999999999999999d", "-5s", "", "1x"]),
    st.text(max_size=8),
    st.booleans(),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.text(max_size=20),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": NAMES,
    "job": st.sampled_from(["demo.echo", "demo.add", "demo.sleep", "no.such", "", "demo"]),
    "cron": CRONS,
    "every": DURATIONS,
    "timezone": st.sampled_from(
        ["UTC", "Europe/Berlin", "Asia/Seoul", "Mars/Olympus", "", "localtime", "../etc"]
    ),
    "args": st.one_of(st.lists(VALUES, max_size=3), VALUES),
    "kwargs": st.one_of(
        st.dictionaries(st.sampled_from(["a", "b", "seconds", "x"]), VALUES, max_size=3), VALUES
    ),
    "queue": st.one_of(NAMES, VALUES),
    "timeout": DURATIONS,
    "retry": st.one_of(st.integers(min_value=-5, max_value=10**6), VALUES),
    "retry_interval": st.one_of(DURATIONS, st.lists(DURATIONS, max_size=3)),
    "enabled": st.one_of(st.booleans(), VALUES),
    "misfire": st.sampled_from(["skip", "once", "all", "never", ""]),
    "misfire_grace": DURATIONS,
    "overlap": st.sampled_from(["allow", "skip", "deny"]),
    "description": st.one_of(st.text(max_size=40), st.just("d" * 501), VALUES),
    "owner": st.sampled_from(["cli", "file:x"]),
    "colour": st.text(max_size=5),
}
#: Most entries are plausible (a valid core plus a few random fields), so the fuzz reaches the writes.
PLAUSIBLE = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
        "job": st.sampled_from(["demo.echo", "demo.sleep"]),
    }
).flatmap(
    lambda core: st.one_of(
        st.sampled_from(["1s", "10m", 30, 86400]).map(lambda every: {**core, "every": every}),
        st.sampled_from(["* * * * * *", "0 3 * * *", "@hourly"]).map(lambda cron: {**core, "cron": cron}),
    )
)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    """One [[schedule]] table: a plausible core with random fields over it, or anything at all."""
    plausible = draw(st.integers(min_value=0, max_value=3)) > 0
    base: dict[str, Any] = draw(PLAUSIBLE) if plausible else {}
    count = draw(st.sampled_from([0, 0, 0, 1, 2])) if plausible else draw(st.integers(0, 6))
    keys = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=count, max_size=count, unique=True))
    for key in keys:
        base[key] = draw(FIELDS[key])
    return base


def toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes, with non-ASCII kept as is and DEL escaped as TOML wants."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    """TOML spelling of a value (None has none: it becomes an empty inline table's absence)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime | type(datetime.now().date()) | type(datetime.now().time())):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(items) + "}"
    raise TypeError(type(value))


def toml_document(tables: list[dict[str, Any]]) -> str:
    """A TOML file of ``[[schedule]]`` tables."""
    blocks = []
    for table in tables:
        lines = ["[[schedule]]"]
        lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items() if v is not None]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A document of 0-4 schedules, sometimes damaged (cut or spliced) into invalid TOML."""
    text = toml_document(draw(st.lists(entries(), max_size=3)))
    damage = draw(st.sampled_from(["none"] * 8 + ["cut", "splice"]))
    if damage == "cut" and text:
        text = text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
    elif damage == "splice":
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(st.text(max_size=5)) + text[at:]
    return text


@pytest.fixture
def server(own_redis: RedisServer) -> RedisServer:
    """The test's redis-server (AOF on, like production), with the built-in jobs registered."""
    load_jobs()
    return own_redis


FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Valid values for the optional fields, so documents of good schedules reach the writes and the scheduler.
GOOD_EXTRAS: dict[str, st.SearchStrategy[Any]] = {
    "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Asia/Seoul", "America/New_York"]),
    "args": st.lists(st.one_of(st.text(max_size=10), st.integers(-5, 5)), max_size=2),
    "retry": st.integers(0, 5),
    "retry_interval": st.sampled_from(["30s", "1m,5m", 10, [1, 2]]),
    "timeout": st.sampled_from(["10m", 30, "1h30m", 0.5]),
    "misfire": st.sampled_from(["skip", "once", "all"]),
    "misfire_grace": st.sampled_from(["1s", "1m", 5]),
    "overlap": st.sampled_from(["allow", "skip"]),
    "description": st.text(max_size=60),
    "enabled": st.booleans(),
    "queue": st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True),
}


@st.composite
def good_documents(draw: st.DrawFn) -> str:
    """1-4 valid schedules with distinct names and random valid options."""
    tables = draw(st.lists(PLAUSIBLE, min_size=1, max_size=4, unique_by=lambda t: t["name"]))
    for table in tables:
        for key in draw(st.lists(st.sampled_from(sorted(GOOD_EXTRAS)), max_size=4, unique=True)):
            table[key] = draw(GOOD_EXTRAS[key])
        if "args" in table:
            table["job"] = "demo.echo"  # demo.sleep takes numbers
    return toml_document(tables)


@FUZZ
@given(document=documents())
def test_schedules_apply_exits_0_or_2_never_crashes_never_writes_half(
    server: RedisServer, tmp_path: Path, document: str
) -> None:
    apply_and_check(server, tmp_path, document)


@FUZZ
@given(document=good_documents())
def test_valid_schedule_files_apply_and_the_scheduler_fires_them(
    server: RedisServer, tmp_path: Path, document: str
) -> None:
    assert apply_and_check(server, tmp_path, document) == 0


def apply_and_check(server: RedisServer, tmp_path: Path, document: str) -> int:
    """Apply ``document``; exit 0 or 2, nothing written on 2, everything (and fireable) on 0."""
    client = server.client()
    client.flushall()
    store = ScheduleStore(client)
    store.create(Schedule(name="existing", job="demo.echo", cron="0 3 * * *"))
    path = tmp_path / "schedules.toml"
    path.write_text(document, encoding="utf-8")
    before = snapshot(client)
    result = CliRunner().invoke(
        main, ["schedules", "apply", str(path)], env={"REDIS_URL": server.url, "RQSTACK_JOBS": ""}
    )
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    assert crash is None, f"{type(crash).__name__}: {crash}\n--- file\n{document}"
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), (result.exit_code, result.output, document)
    event(f"exit {result.exit_code}")
    if result.exit_code == 2:
        assert snapshot(client) == before, f"exit 2 but Redis changed\n--- file\n{document}"
        return 2
    owned = {s.name for s in store.list() if s.owner == file_owner(path)}
    assert owned == {line.name for line in _declared(document)}
    check_scheduler_survives(client)
    return 0


def _declared(document: str) -> list[Schedule]:
    import tomllib

    return [Schedule.from_dict(entry) for entry in tomllib.loads(document).get("schedule", [])]


def check_scheduler_survives(client: redis.Redis) -> None:
    """Ticks a minute and a day later fire the accepted schedules, or record why not; they never raise."""
    scheduler = Scheduler(client, use_lease=False)
    now = datetime.now(UTC)
    for later in (timedelta(minutes=1), timedelta(days=1)):
        result = scheduler.tick(now + later)
        assert result.leader
