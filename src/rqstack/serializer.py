"""RQ serializer that writes JSON where the value survives it and pickle otherwise, and reads both.

Jobs queued by rqstack carry JSON; jobs queued by stock ``rq.Queue.enqueue`` carry pickle and still
run. Pickle protocol 2+ always starts with byte 0x80, which JSON text never does.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import redis
from rq.job import Job

_PICKLE_MARK = 0x80


class JSONFirstSerializer:
    """``dumps``: compact JSON when it round-trips exactly, else pickle. ``loads``: sniff and decode."""

    @staticmethod
    def dumps(obj: Any, /) -> bytes:
        """Encode ``obj``."""
        candidate = list(obj) if type(obj) is tuple else obj
        try:
            text = json.dumps(candidate, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        if not _round_trips(candidate, json.loads(text)):
            return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return text.encode()

    @staticmethod
    def loads(data: bytes, /) -> Any:
        """Decode what either encoding wrote."""
        if data[:1] == bytes([_PICKLE_MARK]):
            return pickle.loads(data)
        return json.loads(data)


def blank_job(job_id: str, connection: redis.Redis) -> Job:
    """``rq.job.Job(job_id, connection, serializer=JSONFirstSerializer)``, ready for ``restore``.

    RQ checks a serializer passed to ``Job`` against its typing Protocol, which costs a worker more
    per job than restoring the job's fields does; the attribute is set directly instead.
    """
    job = Job(job_id, connection=connection)
    job.serializer = JSONFirstSerializer
    return job


def _round_trips(original: Any, decoded: Any) -> bool:
    # json.dumps turns int dict keys into strings and loses types like datetime: those go to pickle.
    # Tuples coming back as lists is accepted, as with any JSON serializer (RQ passes them as *args).
    if type(original) is not type(decoded):
        return (
            isinstance(original, tuple)
            and isinstance(decoded, list)
            and _round_trips(list(original), decoded)
        )
    if isinstance(original, list):
        return len(original) == len(decoded) and all(map(_round_trips, original, decoded))
    if isinstance(original, dict):
        return original.keys() == decoded.keys() and all(
            _round_trips(original[k], decoded[k]) for k in original
        )
    return bool(original == decoded)
