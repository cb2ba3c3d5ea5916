"""Run one job's function in this process and describe the outcome; shared by the worker and its horse."""

from __future__ import annotations

import asyncio
import logging
import traceback
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rq.defaults import UNSERIALIZABLE_RETURN_VALUE_PAYLOAD
from rq.job import Job, _current_job
from rq.timeouts import JobTimeoutException
from rq.utils import import_attribute

from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import JOB_NAME_META_KEY
from rqstack.worker.jobs.registry import registered_jobs

logger = logging.getLogger(__name__)


class JobCanceled(BaseException):  # a signal to the job, like asyncio.CancelledError
    """Raised inside a running job when ``rqstack job cancel`` stops it; do not swallow it."""


class WorkerShutdown(BaseException):
    """Raised inside a running job when the worker must stop now; the job goes back to its queue."""


@dataclass(frozen=True)
class Outcome:
    """What became of one run: ``finished``, ``failed``, ``canceled`` or ``requeue``."""

    kind: str
    result_b64: str = ""
    exc_string: str = ""
    retryable: bool = True


_functions: dict[str, Callable[..., Any]] = {}


class MissingFunction(Exception):
    """The job's function cannot be found in this worker's code."""


def resolve(job: Job) -> Callable[..., Any]:
    """The job's function, cached by import path; MissingFunction with a clear message when it is gone."""
    func_name = job.func_name
    if job.instance is not None:
        return getattr(job.instance, func_name)  # type: ignore[no-any-return, arg-type]
    assert func_name is not None
    func = _functions.get(func_name)
    if func is not None:
        return func
    try:
        func = import_attribute(func_name)
    except Exception as exc:
        # A registered job moved to another module keeps running under its registered name.
        name = job.meta.get(JOB_NAME_META_KEY)
        for definition in registered_jobs():
            if definition.name == name:
                logger.info(
                    "job %s: %s moved to %s; running it there", job.id, func_name, definition.import_path
                )
                return definition.func
        raise MissingFunction(
            f"job function {func_name!r} does not exist in this worker's code ({type(exc).__name__}: {exc}); "
            "the job failed without running and is not retried; deploy the code that defines it, add its "
            "module to RQSTACK_JOBS, or enqueue a job that exists (`rqstack jobs` lists them)"
        ) from None
    if not callable(func):
        raise MissingFunction(f"{func_name!r} is not a function; the job failed without running")
    _functions[func_name] = func
    return func


def run_job(job: Job) -> Outcome:
    """Call the job's function with its arguments; every exception becomes an Outcome."""
    try:
        func = resolve(job)
        args, kwargs = job.args, job.kwargs
    except MissingFunction as exc:
        return Outcome("failed", exc_string=str(exc), retryable=False)
    except Exception as exc:
        return Outcome(
            "failed",
            exc_string=f"job data cannot be read by this worker ({type(exc).__name__}: {exc}); it failed "
            "without running; enqueue it again with a serializer the worker reads (JSON or pickle)",
            retryable=False,
        )
    token = _current_job.set(job)
    try:
        value = func(*args, **kwargs)
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
    except JobCanceled:
        return Outcome("canceled")
    except WorkerShutdown:
        return Outcome("requeue")
    except JobTimeoutException:
        return Outcome("failed", exc_string=timeout_message(job))
    except BaseException:
        return Outcome("failed", exc_string=traceback.format_exc())
    finally:
        _current_job.reset(token)
    return Outcome("finished", result_b64=encode_result(value))


def encode_result(value: Any) -> str:
    """The base64 text RQ 3 stores as a result's ``return_value`` ("" for None)."""
    if value is None:
        return ""
    try:
        data = JSONFirstSerializer.dumps(value)
    except Exception:
        data = JSONFirstSerializer.dumps(UNSERIALIZABLE_RETURN_VALUE_PAYLOAD)
    return b64encode(data).decode()


def timeout_message(job: Job) -> str:
    """Why a job that ran too long failed, and what to do."""
    return (
        f"JobTimeoutException: job {job.id} ran longer than its timeout of {job.timeout}s and was stopped; "
        "it counts as a failed attempt; raise --timeout (or the job's timeout=) or make the job faster"
    )
