"""GET /metrics: Prometheus text read from Redis at scrape time."""

from __future__ import annotations

from pathlib import Path

import redis
from dashboard_app import RedisUrl, make_app
from prometheus_client.parser import text_string_to_metric_families
from rq import SimpleWorker

from rqstack.sched.control import run_now
from rqstack.sched.model import Schedule
from rqstack.sched.store import ScheduleStore
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import EnqueueRequest, enqueue, make_queue


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample keyed by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_reflect_queues_and_schedules(
    connection: redis.Redis, redis_server: RedisUrl, tmp_path: Path
) -> None:
    app = make_app(connection, redis_server.url, tmp_path)
    store = ScheduleStore(connection)
    store.create(Schedule.from_dict({"name": "boomer", "job": "demo.fail", "cron": "@daily"}))
    run_now(store, "boomer")
    enqueue(connection, EnqueueRequest("demo.echo", queue="low"))
    enqueue(connection, EnqueueRequest("demo.echo", queue="low"))
    SimpleWorker(
        [make_queue("default", connection)], connection=connection, serializer=JSONFirstSerializer
    ).work(burst=True)
    before = connection.dbsize()
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    found = samples(response.get_data(as_text=True))
    assert found[("rqstack_queue_depth", (("queue", "low"),))] == 2
    assert found[("rqstack_jobs", (("queue", "default"), ("status", "failed")))] == 1
    assert found[("rqstack_schedule_runs", (("schedule", "boomer"), ("status", "failed")))] == 1
    assert found[("rqstack_schedule_failures", (("schedule", "boomer"),))] == 1
    assert found[("rqstack_schedule_enabled", (("schedule", "boomer"),))] == 1
    assert ("rqstack_scheduler_lag_seconds", ()) in found
    assert ("rqstack_scheduler_ticks_total", ()) in found
    assert connection.dbsize() == before
