"""`rqstack enqueue`, `job` and `status` against a real redis-server, incl. bad input writing nothing."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import redis
from click.testing import CliRunner

from rqstack.cli import main
from rqstack.constants import MAX_ARGUMENTS_BYTES


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.usefixtures("redis_env")
def test_enqueue_prints_an_id_and_job_show_reads_it(connection: redis.Redis) -> None:
    code, out = run("enqueue", "demo.add", "1", "2", "--id", "sum-1")
    assert (code, out.strip()) == (0, "sum-1")
    code, out = run("job", "show", "sum-1", "--json")
    details = json.loads(out)
    assert details["status"] == "queued"
    assert details["job"] == "demo.add"
    assert details["description"] == "demo.add(1, 2)"
    assert connection.llen("rq:queue:default") == 1


@pytest.mark.usefixtures("redis_env")
def test_enqueue_in_goes_to_the_scheduled_registry_with_its_exact_time(connection: redis.Redis) -> None:
    code, out = run("enqueue", "demo.echo", "--in", "90s", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["status"] == "scheduled"
    score = connection.zscore("rq:scheduled:default", document["id"])
    assert score is not None
    due = datetime.fromisoformat(document["due"]).timestamp()
    assert score == pytest.approx(due, abs=1e-5)  # RQ would floor it to the second; we keep it
    assert connection.llen("rq:queue:default") == 0


@pytest.mark.usefixtures("redis_env")
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["enqueue", "no.such.job"], "no job is registered"),
        (["enqueue", "demo.add", "one", "2"], "parameter 'a' must be float"),
        (["enqueue", "demo.add", "1"], "missing a required argument"),
        (["enqueue", "demo.add", "1", "2", "3"], "too many positional arguments"),
        (["enqueue", "demo.sleep", "--kwargs", "{bad json"], "--kwargs is not valid JSON"),
        (["enqueue", "demo.sleep", "--kwargs", "[1]"], "must be an object in JSON"),
        (["enqueue", "demo.sleep", "--kwargs", '{"seconds": "soon"}'], "parameter 'seconds'"),
        (["enqueue", "demo.echo", "--timeout", "-5m"], "timeout"),
        (["enqueue", "demo.echo", "--timeout", "soon"], "is not a duration"),
        (["enqueue", "demo.echo", "--in", "0x"], "is not a duration"),
        (["enqueue", "demo.echo", "--at", "tomorrow"], "is not an ISO 8601 time"),
        (["enqueue", "demo.echo", "--at", "2030-01-01T00:00:00"], "has no time zone"),
        (["enqueue", "demo.echo", "--in", "1m", "--at", "2030-01-01T00:00:00Z"], "not both"),
        (["enqueue", "demo.echo", "--queue", "bad queue"], "queue 'bad queue' is not allowed"),
        (["enqueue", "demo.echo", "--queue", "x" * 129], "is not allowed"),
        (["enqueue", "demo.echo", "--queue", ""], "queue '' is not allowed"),
        (["enqueue", "demo.echo", "--id", "../etc"], "id '../etc' is not allowed"),
        (["enqueue", "demo.echo", "--id", "a:b"], "is not allowed"),
        (["enqueue", "demo.echo", "--retry", "-1"], "retry"),
        (["enqueue", "demo.echo", "--retry-interval", "soon"], "is not a duration"),
        (["enqueue", "demo.echo", "x" * (MAX_ARGUMENTS_BYTES + 1)], "above the limit"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_writes_nothing(
    connection: redis.Redis, args: list[str], needle: str
) -> None:
    connection.set("sentinel", "1")
    before = connection.dbsize()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    assert connection.dbsize() == before


@pytest.mark.usefixtures("redis_env")
@pytest.mark.usefixtures("connection")
def test_job_show_unknown_id_exits_2() -> None:
    code, out = run("job", "show", "missing-job")
    assert code == 2
    assert "does not exist" in out


@pytest.mark.usefixtures("redis_env")
def test_job_cancel_removes_a_queued_job(connection: redis.Redis) -> None:
    run("enqueue", "demo.echo", "--id", "to-cancel")
    code, out = run("job", "cancel", "to-cancel")
    assert code == 0
    assert "canceled" in out
    assert connection.llen("rq:queue:default") == 0
    assert json.loads(run("job", "show", "to-cancel", "--json")[1])["status"] == "canceled"


@pytest.mark.usefixtures("redis_env")
@pytest.mark.usefixtures("connection")
def test_job_list_filters_by_status() -> None:
    run("enqueue", "demo.echo", "--id", "listed")
    code, out = run("job", "list", "--status", "queued", "--json")
    assert code == 0
    assert [row["id"] for row in json.loads(out)] == ["listed"]
    assert json.loads(run("job", "list", "--status", "failed", "--json")[1]) == []


@pytest.mark.usefixtures("redis_env")
@pytest.mark.usefixtures("connection")
def test_status_json_is_one_document() -> None:
    run("enqueue", "demo.echo")
    code, out = run("status", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["redis"]["embedded"] is False
    assert [q["name"] for q in document["queues"]] == ["default"]
    assert document["queues"][0]["queued"] == 1


def test_jobs_lists_registered_names_without_redis() -> None:
    code, out = run("jobs", "--json")
    assert code == 0
    names = [d["name"] for d in json.loads(out)]
    assert "demo.sleep" in names


def test_unreachable_redis_is_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from rqstack.connection import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    result = CliRunner().invoke(main, ["enqueue", "demo.echo"])
    assert result.exit_code == 1
    assert "cannot reach Redis" in result.output
    assert "REDIS_URL" in result.output
    assert "Traceback" not in result.output


def test_bad_environment_is_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RQSTACK_TIMEZONE", "Nowhere/Land")
    result = CliRunner().invoke(main, ["jobs"])
    assert result.exit_code == 2
    assert "RQSTACK_TIMEZONE" in result.output
