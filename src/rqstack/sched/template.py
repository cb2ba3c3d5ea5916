"""A schedule's job template, its plan, and the stamp that says which definition and registry made them.

The store writes all three with the schedule, as rq-scheduler keeps a job hash per cron entry: the
template is the job hash each fire copies, the plan is what the scheduler needs to time and bundle
the fires (job, timing, misfire, overlap, queue). The scheduler trusts them while the stamp matches
the definition it reads and the job registry it runs with, so 10k new schedules fire without being
parsed, checked and encoded again; it rebuilds them when the stamp does not match (data from an
older version, a deploy that changed the job's defaults or signature, a definition edited by hand)
or when Redis lost the template.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from dataclasses import dataclass

from rqstack.constants import DEFAULT_FAILURE_TTL_SECONDS, DEFAULT_RESULT_TTL_SECONDS
from rqstack.sched.model import Schedule
from rqstack.worker import job_hash
from rqstack.worker.enqueue import PreparedJob
from rqstack.worker.jobs.registry import JobDefinition

#: Changes whenever template_fields or the plan change shape: every stored template is then rebuilt.
TEMPLATE_FORMAT = "1"
#: Fields of the schedule hash (besides "definition").
PLAN_FIELD = "plan"
STAMP_FIELD = "template_stamp"
#: The name of the Schedule a plan is read back into; a plan is shared by every schedule with it.
_PLAN_NAME = "plan"


@dataclass(frozen=True, slots=True)
class Built:
    """What a schedule's fires copy (``fields``), how they are timed (``plan``), and their ``stamp``."""

    fields: list[str | bytes]
    plan: str
    stamp: str


def build(schedule: Schedule, prepared: PreparedJob, definition: bytes) -> Built:
    """Template, plan and stamp of ``schedule`` stored as ``definition``; ``prepared``: its validate()."""
    return Built(
        job_hash.template_fields(prepared),
        plan_text(schedule, prepared.queue),
        stamp(definition, prepared.definition),
    )


def plan_text(schedule: Schedule, queue: str) -> str:
    """The fields that time and route a schedule's fires, with the queue its job resolved to."""
    return json.dumps(
        {
            "job": schedule.job,
            "cron": schedule.cron,
            "every": schedule.every,
            "timezone": schedule.timezone,
            "misfire": schedule.misfire,
            "misfire_grace": schedule.misfire_grace,
            "overlap": schedule.overlap,
            "queue": queue,
        },
        separators=(",", ":"),
    )


def plan_schedule(plan: bytes | str) -> Schedule:
    """A plan read back as a Schedule (named ``plan``: only its timing, policies and queue are meant)."""
    return Schedule.from_dict({**json.loads(plan), "name": _PLAN_NAME})


def stamp(definition: bytes, job: JobDefinition) -> str:
    """Digest of the stored definition and of everything in ``job``'s registration a template uses."""
    return hashlib.sha1(definition + _registration(job)).hexdigest()[:24]


def definition_digest(definition: bytes) -> str:
    """SHA-1 of the stored definition, as Lua's ``redis.sha1hex`` writes it."""
    return hashlib.sha1(definition).hexdigest()


@functools.lru_cache(maxsize=1024)
def _registration(job: JobDefinition) -> bytes:
    try:
        signature = str(inspect.signature(job.func))
    except (TypeError, ValueError):  # some callables have none; their template is rebuilt per process
        signature = repr(job.func)
    return repr(
        (
            TEMPLATE_FORMAT,
            job.name,
            job.import_path,
            job.queue,
            job.timeout,
            job.retry,
            job.retry_intervals,
            job.retry_spec,
            job.description,
            signature,
            DEFAULT_RESULT_TTL_SECONDS,
            DEFAULT_FAILURE_TTL_SECONDS,
        )
    ).encode()
