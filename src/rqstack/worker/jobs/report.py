"""`report.daily`: runs, failures and durations per schedule and per job over the last hours, sent out."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from rqstack import constants
from rqstack.errors import BadInput
from rqstack.redis_values import as_text, parse_utc
from rqstack.serializer import JSONFirstSerializer
from rqstack.settings import Settings
from rqstack.worker.alerts.channels import DeliveryError
from rqstack.worker.alerts.delivery import DEFAULT_POLICY, DeliveryPolicy, deliver_all
from rqstack.worker.alerts.dispatch import message_sends
from rqstack.worker.jobs.notify import job_connection
from rqstack.worker.jobs.registry import job

logger = logging.getLogger(__name__)

#: Newest entries read per RQ registry: a report must stay cheap on a queue that ran millions of jobs.
REGISTRY_SCAN_LIMIT = 5000
_NOT_RUNS = ("missed", "skipped")


@dataclass
class Tally:
    """Runs of one schedule or job in the window."""

    runs: int = 0
    failed: int = 0
    missed: int = 0
    skipped: int = 0
    durations: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts and duration statistics (seconds) in JSON form."""
        durations = self.durations
        return {
            "runs": self.runs,
            "failed": self.failed,
            "missed": self.missed,
            "skipped": self.skipped,
            "duration_avg": round(sum(durations) / len(durations), 3) if durations else None,
            "duration_max": round(max(durations), 3) if durations else None,
        }


@job(
    "report.daily",
    timeout="10m",
    retry=2,
    retry_interval="5m",
    description="Runs, failures and durations per schedule and job, sent to the alert channels",
)
def daily_report(hours: int = 24, send: bool = True) -> dict[str, Any]:
    """Summarise the last ``hours`` of schedule runs and jobs; send it to the alert channels."""
    settings = Settings.from_env()
    return run_report(job_connection(settings), settings, hours=hours, send=send)


def run_report(
    connection: redis.Redis,
    settings: Settings,
    *,
    hours: int = 24,
    send: bool = True,
    now: datetime | None = None,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """Build, format and (optionally) deliver the report; DeliveryError when every channel failed."""
    if isinstance(hours, bool) or not 1 <= hours <= 24 * 31:
        raise BadInput(f"hours must be between 1 and 744, got {hours}; no report was made", field="hours")
    report = build_report(connection, now=now or datetime.now(UTC), hours=hours)
    text = format_report(report)
    delivered: dict[str, bool] = {}
    if send:
        title = f"daily report: {report['totals']['runs']} runs, {report['totals']['failed']} failed"
        payload = {"event": "report", "title": title, "text": text, "report": report}
        outcomes = deliver_all(message_sends(settings, title=title, text=text, payload=payload), policy)
        delivered = {name: outcome.ok for name, outcome in outcomes.items()}
        if outcomes and not any(delivered.values()):
            errors = "; ".join(f"{o.channel}: {o.error}" for o in outcomes.values())
            raise DeliveryError(f"the report reached no channel ({errors})", retryable=True)
        if not outcomes:
            logger.info("no alert channel configured; the report is only returned")
    return {"text": text, "report": report, "delivered": delivered}


def build_report(connection: redis.Redis, *, now: datetime, hours: int = 24) -> dict[str, Any]:
    """Per-schedule tallies from the run history and per-job tallies from RQ's registries."""
    since = now - timedelta(hours=hours)
    schedules = {name: tally.as_dict() for name, tally in _schedule_tallies(connection, since, now).items()}
    jobs = {name: tally.as_dict() for name, tally in _job_tallies(connection, since, now).items()}
    totals = {
        "runs": sum(t["runs"] for t in schedules.values()),
        "failed": sum(t["failed"] for t in schedules.values()),
        "missed": sum(t["missed"] for t in schedules.values()),
        "jobs": sum(t["runs"] for t in jobs.values()),
        "jobs_failed": sum(t["failed"] for t in jobs.values()),
    }
    return {
        "since": since.isoformat(),
        "until": now.isoformat(),
        "hours": hours,
        "totals": totals,
        "schedules": schedules,
        "jobs": jobs,
    }


def format_report(report: dict[str, Any]) -> str:
    """Slack-style text: totals first, then one line per schedule and per job, failures first."""
    totals = report["totals"]
    until = datetime.fromisoformat(report["until"]).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"*rqstack report* for the {report['hours']} h before {until}",
        f"Schedules: {totals['runs']} runs, {totals['failed']} failed, {totals['missed']} missed",
    ]
    lines += [_line(name, tally) for name, tally in _worst_first(report["schedules"])]
    lines.append(f"Jobs: {totals['jobs']} ended, {totals['jobs_failed']} failed")
    lines += [_line(name, tally) for name, tally in _worst_first(report["jobs"])]
    return "\n".join(lines)


def _schedule_tallies(connection: redis.Redis, since: datetime, now: datetime) -> dict[str, Tally]:
    # Imported here: built-in jobs sit below sched/ in the dependency order; only this job reads it.
    from rqstack.sched.store import ScheduleStore

    store = ScheduleStore(connection)
    tallies: dict[str, Tally] = {}
    for name in store.names():
        tally = tallies.setdefault(name, Tally())
        for record in store.history(name):
            fired = parse_utc(record.get("fire_time"))
            if fired is None or not since <= fired <= now:
                continue
            status = record.get("status")
            if status == "missed":
                tally.missed += int(record.get("count") or 1)
            elif status == "skipped":
                tally.skipped += 1
            else:
                tally.runs += 1
                tally.failed += status in ("failed", "stopped", "expired")
                if isinstance(record.get("duration"), int | float):
                    tally.durations.append(float(record["duration"]))
    return tallies


def _job_tallies(connection: redis.Redis, since: datetime, now: datetime) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for key, failed in _registry_keys(connection):
        ids = [as_text(i) for i in _members(connection.zrevrange(key, 0, REGISTRY_SCAN_LIMIT - 1))]
        with connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(
                    constants.RQ_JOB_KEY_PREFIX + job_id, "started_at", "ended_at", "meta", "description"
                )
            rows = pipe.execute()
        for started_raw, ended_raw, meta_raw, description in rows:
            ended = parse_utc(ended_raw)
            if ended is None or not since <= ended <= now:
                continue
            tally = tallies.setdefault(_job_name(meta_raw, description), Tally())
            tally.runs += 1
            tally.failed += failed
            started = parse_utc(started_raw)
            if started is not None:
                tally.durations.append((ended - started).total_seconds())
    return tallies


def _registry_keys(connection: redis.Redis) -> Iterable[tuple[str, bool]]:
    for queue_key in sorted(as_text(k) for k in connection.smembers(constants.RQ_QUEUES_KEY)):
        queue = queue_key.removeprefix(constants.RQ_QUEUE_KEY_PREFIX)
        yield f"rq:finished:{queue}", False
        yield f"rq:failed:{queue}", True


def _job_name(meta_raw: bytes | None, description: bytes | None) -> str:
    if meta_raw:
        try:
            meta = JSONFirstSerializer.loads(meta_raw)
        except Exception:  # a job written by another tool; fall back to its description
            meta = None
        if isinstance(meta, dict) and isinstance(meta.get("rqstack_job"), str):
            return str(meta["rqstack_job"])
    text = as_text(description or b"unknown")
    return text.split("(", 1)[0] or "unknown"


def _line(name: str, tally: dict[str, Any]) -> str:
    parts = [f"{tally['runs']} run{'s' if tally['runs'] != 1 else ''}"]
    if tally["failed"]:
        parts.append(f"*{tally['failed']} failed*")
    if tally["missed"]:
        parts.append(f"{tally['missed']} missed")
    if tally["skipped"]:
        parts.append(f"{tally['skipped']} skipped")
    if tally["duration_avg"] is not None:
        parts.append(f"avg {tally['duration_avg']:.1f}s, max {tally['duration_max']:.1f}s")
    icon = ":x:" if tally["failed"] or tally["missed"] else "•"
    return f"{icon} {name}: {', '.join(parts)}"


def _worst_first(tallies: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(tallies.items(), key=lambda item: (-item[1]["failed"] - item[1]["missed"], item[0]))


def _members(reply: Any) -> list[bytes | str]:
    return list(reply)
