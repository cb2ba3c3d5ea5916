"""End to end: rqstack's worker runs jobs and its hooks deliver alerts to a real HTTP server."""

from __future__ import annotations

import redis
from peers import HttpPeer

from rqstack.constants import ALERT_ON_SUCCESS_META_KEY
from rqstack.settings import Settings
from rqstack.worker.alerts import recent_alerts
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.runner import build_fast_worker


def test_final_failure_alerts_once_and_opted_in_success_alerts(
    http_peer: HttpPeer, connection: redis.Redis
) -> None:
    load_jobs()
    settings = Settings(alert_webhook_url=http_peer.url())
    failing = enqueue(
        connection,
        EnqueueRequest(job="demo.fail", kwargs={"message": "boom"}, retry=1, retry_intervals=[0]),
    )
    quiet = enqueue(connection, EnqueueRequest(job="demo.add", args=[1, 2]))
    loud = enqueue(
        connection,
        EnqueueRequest(job="demo.add", args=[2, 3], meta={ALERT_ON_SUCCESS_META_KEY: True}),
    )
    build_fast_worker(connection, ["default"], settings=settings).work(burst=True)

    events = {(b["event"], b["job"]["id"]) for b in http_peer.bodies()}
    assert events == {("failed", failing.job_id), ("succeeded", loud.job_id)}
    assert quiet.job_id not in {job_id for _, job_id in events}
    (failed,) = [b for b in http_peer.bodies() if b["event"] == "failed"]
    assert failed["title"] == "demo.fail failed after 2 attempts" and "boom" in failed["text"]
    assert {entry["event"] for entry in recent_alerts(connection)} == {"failed", "succeeded"}
