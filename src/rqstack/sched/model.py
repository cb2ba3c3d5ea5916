"""The schedule record: one dataclass, its validation, and its JSON-safe dict form."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rqstack import constants
from rqstack.durations import format_duration, parse_duration
from rqstack.errors import BadInput, RqstackError
from rqstack.sched.cron import parse_cron, validate_timezone
from rqstack.worker.enqueue import EnqueueRequest, PreparedJob, check_name, prepare
from rqstack.worker.retry import parse_retry_spec

MISFIRE_POLICIES = ("skip", "once", "all")
OVERLAP_POLICIES = ("allow", "skip")
OWNER_KINDS = ("cli", "api", "preset", "file:<path>")
MAX_DESCRIPTION = 500
#: Leaves room for ``-<unix time>`` (or ``-run-<unix ms>``) within the 128 characters of a job id.
MAX_NAME = 100
_NOT_SAVED = "the schedule was not saved"


@dataclass(frozen=True)
class Schedule:
    """A named, periodic job: when (cron or every, in a zone), what (job + params) and how."""

    name: str
    job: str
    cron: str | None = None
    every: float | None = None
    timezone: str = constants.DEFAULT_TIMEZONE
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    timeout: float | None = None
    retry: int | None = None
    #: Fixed waits in seconds, or a backoff spec such as ``exp:10s:10m`` (see rqstack.worker.retry).
    retry_interval: tuple[float, ...] | str | None = None
    enabled: bool = True
    misfire: str = constants.DEFAULT_MISFIRE_POLICY
    misfire_grace: float = constants.DEFAULT_MISFIRE_GRACE_SECONDS
    overlap: str = constants.DEFAULT_OVERLAP_POLICY
    description: str = ""
    owner: str = "cli"
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def timing(self) -> tuple[str | None, float | None, str]:
        """What decides the fire times; a change of it moves the next fire."""
        return (self.cron, self.every, self.timezone)

    def request(self) -> EnqueueRequest:
        """The enqueue request one fire makes (its job id is set per fire)."""
        return EnqueueRequest(
            job=self.job,
            args=list(self.args),
            kwargs=dict(self.kwargs),
            queue=self.queue,
            timeout=self.timeout,
            retry=self.retry,
            retry_intervals=self.retry_interval,
            meta={"rqstack_schedule": self.name},
        )

    def validate(self) -> PreparedJob:
        """Raise BadInput naming the field and the fix; return the checked job a fire enqueues."""
        check_name(self.name, "name")
        if len(self.name) > MAX_NAME:
            raise BadInput(
                f"schedule name {self.name[:20]!r}... has {len(self.name)} characters, at most {MAX_NAME} "
                f"are allowed so its job ids (<name>-<unix time>) fit in 128; {_NOT_SAVED}; shorten it",
                field="name",
            )
        if (self.cron is None) == (self.every is None):
            raise BadInput(
                f"schedule {self.name!r} needs exactly one of cron or every; {_NOT_SAVED}; "
                "give --cron '0 3 * * *' or --every 10m",
                field="cron",
            )
        if self.cron is not None:
            parse_cron(self.cron)
        if self.every is not None and (not math.isfinite(self.every) or self.every < 1 or self.every % 1):
            raise BadInput(
                f"every must be a whole number of seconds, at least 1s, got {self.every!r}; {_NOT_SAVED}; "
                "use e.g. 30s, 10m or 1h",
                field="every",
            )
        validate_timezone(self.timezone)
        _one_of(self.misfire, MISFIRE_POLICIES, "misfire")
        _one_of(self.overlap, OVERLAP_POLICIES, "overlap")
        if not (math.isfinite(self.misfire_grace) and self.misfire_grace >= 0):
            raise BadInput(
                f"misfire_grace must be a duration >= 0, got {self.misfire_grace!r}; {_NOT_SAVED}",
                field="misfire_grace",
            )
        if not isinstance(self.description, str) or len(self.description) > MAX_DESCRIPTION:
            raise BadInput(
                f"description must be text of at most {MAX_DESCRIPTION} characters; {_NOT_SAVED}; shorten it",
                field="description",
            )
        if self.owner not in ("cli", "api", "preset") and not (
            self.owner.startswith("file:") and len(self.owner) > 5
        ):
            raise BadInput(
                f"owner {self.owner!r} is not one of {', '.join(OWNER_KINDS)}; {_NOT_SAVED}", field="owner"
            )
        try:
            return prepare(self.request())
        except BadInput as exc:
            raise type(exc)(exc.message.replace("nothing was queued", _NOT_SAVED), field=exc.field) from None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (ISO times, lists) used by the store, the API and `--json`."""
        return {
            "name": self.name,
            "job": self.job,
            "cron": self.cron,
            "every": self.every,
            "timezone": self.timezone,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "queue": self.queue,
            "timeout": self.timeout,
            "retry": self.retry,
            "retry_interval": _interval_json(self.retry_interval),
            "enabled": self.enabled,
            "misfire": self.misfire,
            "misfire_grace": self.misfire_grace,
            "overlap": self.overlap,
            "description": self.description,
            "owner": self.owner,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }

    def definition(self) -> dict[str, Any]:
        """``as_dict`` without timestamps: what a file or a diff compares."""
        out = self.as_dict()
        del out["created_at"], out["updated_at"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, default_timezone: str | None = None) -> Schedule:
        """Build from JSON/TOML values (durations as ``"10m"`` or seconds); BadInput on unknown keys."""
        if not isinstance(data, Mapping):
            raise BadInput(f"a schedule must be an object/table, got {type(data).__name__}; {_NOT_SAVED}")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise BadInput(
                f"unknown schedule field(s) {', '.join(unknown)}; {_NOT_SAVED}; "
                f"allowed: {', '.join(sorted(_FIELDS))}",
                field=unknown[0],
            )
        for required in ("name", "job"):
            if not isinstance(data.get(required), str) or not data[required]:
                raise BadInput(f"schedule field {required!r} is missing; {_NOT_SAVED}", field=required)
        values: dict[str, Any] = {"name": data["name"], "job": data["job"]}
        values["cron"] = _optional_str(data, "cron")
        values["every"] = _optional_duration(data, "every")
        values["timezone"] = _optional_str(data, "timezone") or default_timezone or constants.DEFAULT_TIMEZONE
        args = data.get("args") or []
        if not isinstance(args, list | tuple):
            raise BadInput(f"args must be an array, got {type(args).__name__}; {_NOT_SAVED}", field="args")
        values["args"] = tuple(args)
        kwargs = data.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise BadInput(
                f"kwargs must be an object, got {type(kwargs).__name__}; {_NOT_SAVED}", field="kwargs"
            )
        values["kwargs"] = dict(kwargs)
        values["queue"] = _optional_str(data, "queue")
        values["timeout"] = _optional_duration(data, "timeout")
        retry = data.get("retry")
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int)):
            raise BadInput(f"retry must be a whole number, got {retry!r}; {_NOT_SAVED}", field="retry")
        values["retry"] = retry
        values["retry_interval"] = _intervals(data.get("retry_interval"))
        values["enabled"] = _bool(data, "enabled", True)
        values["misfire"] = _optional_str(data, "misfire") or constants.DEFAULT_MISFIRE_POLICY
        grace = _optional_duration(data, "misfire_grace", allow_zero=True)
        values["misfire_grace"] = constants.DEFAULT_MISFIRE_GRACE_SECONDS if grace is None else grace
        values["overlap"] = _optional_str(data, "overlap") or constants.DEFAULT_OVERLAP_POLICY
        values["description"] = _optional_str(data, "description") or ""
        values["owner"] = _optional_str(data, "owner") or "cli"
        values["created_at"] = _parse_time(data.get("created_at"), "created_at")
        values["updated_at"] = _parse_time(data.get("updated_at"), "updated_at")
        return cls(**values)

    def replace(self, **changes: Any) -> Schedule:
        """A copy with some fields changed (not validated)."""
        return dataclasses.replace(self, **changes)


_FIELDS = frozenset(f.name for f in dataclasses.fields(Schedule))


def describe_timing(schedule: Schedule) -> str:
    """``cron 0 3 * * * (Asia/Seoul)`` or ``every 10m``, for listings."""
    if schedule.cron is not None:
        return f"cron {schedule.cron} ({schedule.timezone})"
    return f"every {format_duration(schedule.every or 0)}"


def _one_of(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise BadInput(
            f"{name} {value!r} is not allowed; {_NOT_SAVED}; use one of {', '.join(allowed)}", field=name
        )


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{key} must be text, got {value!r}; {_NOT_SAVED}", field=key)
    return value


def _optional_duration(data: Mapping[str, Any], key: str, *, allow_zero: bool = False) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        return parse_duration(value, field=key, allow_zero=allow_zero)
    except RqstackError as exc:
        raise BadInput(exc.message.replace("nothing was saved", _NOT_SAVED), field=key) from None


def _intervals(value: Any) -> tuple[float, ...] | str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | list | tuple):
        raise BadInput(
            f"retry_interval must be durations like '30s,2m' or a backoff like 'exp:10s:10m', "
            f"got {value!r}; {_NOT_SAVED}",
            field="retry_interval",
        )
    policy = parse_retry_spec(value, field="retry_interval")
    # A backoff keeps its spec text: its waits are drawn per retry, not listed.
    return policy.spec() if policy.backoff_base is not None else policy.intervals


def _interval_json(value: tuple[float, ...] | str | None) -> list[float] | str | None:
    if value is None or isinstance(value, str):
        return value
    return list(value)


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise BadInput(f"{key} must be true or false, got {value!r}; {_NOT_SAVED}", field=key)
    return value


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _parse_time(value: Any, key: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise BadInput(f"{key} {value!r} is not an ISO 8601 time; {_NOT_SAVED}", field=key) from None
    else:
        raise BadInput(f"{key} must be an ISO 8601 time; {_NOT_SAVED}", field=key)
    if moment.tzinfo is None:
        raise BadInput(f"{key} {value!r} has no time zone; {_NOT_SAVED}; add +00:00", field=key)
    return moment.astimezone(UTC)
