"""GET /metrics: Prometheus text read from Redis at scrape time, so every replica reports the same."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import redis
from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue, Worker
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from rqstack.constants import SCHEDULER_STATE_KEY
from rqstack.sched.control import scheduler_status
from rqstack.sched.store import ScheduleStore

metrics = Blueprint("metrics", __name__)

_REGISTRIES = {
    "started": StartedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "deferred": DeferredJobRegistry,
    "finished": FinishedJobRegistry,
    "failed": FailedJobRegistry,
    "canceled": CanceledJobRegistry,
}
#: Run outcomes that count as failures of a schedule.
FAILED_RUN_STATUSES = frozenset({"failed", "stopped", "canceled", "missed"})


class StackCollector(Collector):
    """Queue depth, jobs by status, workers, scheduler lag and ticks, schedule runs by outcome."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Read everything in a few round trips per queue and schedule."""
        yield from self._queues()
        yield from self._scheduler()
        yield from self._schedules()

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("rqstack_queue_depth", "Jobs waiting in the queue", labels=["queue"])
        jobs = GaugeMetricFamily("rqstack_jobs", "Jobs by queue and status", labels=["queue", "status"])
        for queue in sorted(Queue.all(connection=self.connection), key=lambda q: q.name):
            count = queue.count
            depth.add_metric([queue.name], count)
            jobs.add_metric([queue.name, "queued"], count)
            for status, registry in _REGISTRIES.items():
                jobs.add_metric([queue.name, status], registry(queue=queue).get_job_count(cleanup=False))
        workers = GaugeMetricFamily("rqstack_workers", "Workers by state", labels=["state"])
        states = Counter(str(worker.get_state()) for worker in Worker.all(connection=self.connection))
        for state, count in sorted(states.items()):
            workers.add_metric([state], count)
        yield from (depth, jobs, workers)

    def _scheduler(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = scheduler_status(self.connection)
        yield GaugeMetricFamily(
            "rqstack_scheduler_lag_seconds", "Lateness of the last tick", value=state["lag"]
        )
        yield GaugeMetricFamily("rqstack_scheduler_paused", "1 while paused", value=int(state["paused"]))
        yield GaugeMetricFamily(
            "rqstack_scheduler_leader", "1 while a leader holds the lease", value=int(bool(state["leader"]))
        )
        if state["last_tick"]:
            tick = datetime.fromisoformat(state["last_tick"]).astimezone(UTC).timestamp()
            yield GaugeMetricFamily(
                "rqstack_scheduler_last_tick_timestamp_seconds", "Time of the last tick", value=tick
            )
        raw = self.connection.hget(SCHEDULER_STATE_KEY, "ticks_total")
        yield CounterMetricFamily("rqstack_scheduler_ticks", "Scheduler ticks", value=int(raw or 0))
        yield CounterMetricFamily(
            "rqstack_scheduler_fired", "Schedule fires enqueued", value=state["fired_total"]
        )
        yield CounterMetricFamily(
            "rqstack_scheduler_moved", "Delayed jobs moved to queues", value=state["moved_total"]
        )

    def _schedules(self) -> Iterator[GaugeMetricFamily]:
        store = ScheduleStore(self.connection)
        runs = GaugeMetricFamily(
            "rqstack_schedule_runs",
            "Runs in the kept history by schedule and outcome",
            labels=["schedule", "status"],
        )
        failures = GaugeMetricFamily(
            "rqstack_schedule_failures",
            "Failed, stopped or missed runs in the kept history",
            labels=["schedule"],
        )
        enabled = GaugeMetricFamily(
            "rqstack_schedule_enabled", "1 when the schedule fires", labels=["schedule"]
        )
        next_fire = GaugeMetricFamily(
            "rqstack_schedule_next_fire_timestamp_seconds",
            "When the schedule fires next",
            labels=["schedule"],
        )
        for stored in store.list_stored():
            name = stored.schedule.name
            outcomes = Counter(str(run.get("status", "unknown")) for run in store.history(name))
            for status, count in sorted(outcomes.items()):
                runs.add_metric([name, status], count)
            failures.add_metric([name], sum(c for s, c in outcomes.items() if s in FAILED_RUN_STATUSES))
            enabled.add_metric([name], int(stored.schedule.enabled))
            if stored.next_fire is not None:
                next_fire.add_metric([name], stored.next_fire.timestamp())
        yield from (runs, failures, enabled, next_fire)


@metrics.get("/metrics")
def scrape() -> Response:
    """Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StackCollector(current_app.config["RQSTACK_REDIS"]))
    return Response(
        generate_latest(registry),
        mimetype=CONTENT_TYPE_LATEST.split(";")[0],
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )
