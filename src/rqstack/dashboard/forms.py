"""The schedule form: HTML form fields to a schedule dict and back, with the same checks as the API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rqstack.durations import format_duration
from rqstack.errors import BadInput
from rqstack.sched.model import Schedule

FIELDS = (
    "name",
    "job",
    "timing",
    "cron",
    "every",
    "timezone",
    "args",
    "kwargs",
    "queue",
    "timeout",
    "retry",
    "retry_interval",
    "misfire",
    "overlap",
    "description",
)


def form_values(schedule: Schedule | None, default_timezone: str) -> dict[str, str]:
    """The form's field values for a new schedule or an existing one."""
    if schedule is None:
        return {
            "timing": "cron",
            "cron": "0 3 * * *",
            "timezone": default_timezone,
            "args": "[]",
            "kwargs": "{}",
            "misfire": "once",
            "overlap": "allow",
            "enabled": "on",
        }
    return {
        "name": schedule.name,
        "job": schedule.job,
        "timing": "cron" if schedule.cron is not None else "every",
        "cron": schedule.cron or "",
        "every": format_duration(schedule.every) if schedule.every else "",
        "timezone": schedule.timezone,
        "args": json.dumps(list(schedule.args)),
        "kwargs": json.dumps(dict(schedule.kwargs)),
        "queue": schedule.queue or "",
        "timeout": format_duration(schedule.timeout) if schedule.timeout else "",
        "retry": "" if schedule.retry is None else str(schedule.retry),
        "retry_interval": retry_interval_text(schedule.retry_interval),
        "misfire": schedule.misfire,
        "overlap": schedule.overlap,
        "description": schedule.description,
        "enabled": "on" if schedule.enabled else "",
    }


def schedule_data(form: Mapping[str, str], owner: str) -> dict[str, Any]:
    """A dict for ``Schedule.from_dict`` from submitted fields; BadInput naming the field on bad JSON."""
    text = {key: (form.get(key) or "").strip() for key in FIELDS}
    data: dict[str, Any] = {
        "name": text["name"],
        "job": text["job"],
        "timezone": text["timezone"] or None,
        "args": _json(text["args"] or "[]", "args", list),
        "kwargs": _json(text["kwargs"] or "{}", "kwargs", dict),
        "queue": text["queue"] or None,
        "timeout": text["timeout"] or None,
        "retry_interval": text["retry_interval"] or None,
        "misfire": text["misfire"] or None,
        "overlap": text["overlap"] or None,
        "description": text["description"],
        "enabled": form.get("enabled") == "on",
        "owner": owner,
    }
    if text["timing"] == "every":
        data["every"] = text["every"] or None
        if data["every"] is None:
            raise BadInput("give an interval such as 10m; the schedule was not saved", field="every")
    else:
        data["cron"] = text["cron"] or None
        if data["cron"] is None:
            raise BadInput(
                "give a cron expression such as 0 3 * * *; the schedule was not saved", field="cron"
            )
    if text["retry"]:
        try:
            data["retry"] = int(text["retry"])
        except ValueError:
            raise BadInput(f"retry must be a whole number, got {text['retry']!r}", field="retry") from None
    return data


def _json(text: str, field: str, expected: type) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{field} is not valid JSON ({exc.msg}); the schedule was not saved", field=field
        ) from None
    if not isinstance(value, expected):
        kind = 'an object like {"keep_days": 14}' if expected is dict else 'an array like [1, "two"]'
        raise BadInput(f"{field} must be {kind}; the schedule was not saved", field=field)
    return value


def retry_interval_text(value: tuple[float, ...] | str | None) -> str:
    """What the form's retry field shows: ``30s,2m`` or a backoff spec as saved."""
    if isinstance(value, str):
        return value
    return ",".join(format_duration(i) for i in value or ())
