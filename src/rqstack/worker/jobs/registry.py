"""Jobs are registered by name; callers enqueue a name, never an import path from the network."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rqstack.constants import DEFAULT_QUEUE, NAME_RE
from rqstack.durations import parse_duration, parse_duration_list
from rqstack.errors import ConfigError, UnknownJob
from rqstack.worker.jobs.params import Parameter, describe_parameters, validate_arguments

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: Modules of the jobs rqstack ships; imported before RQSTACK_JOBS.
BUILTIN_JOB_MODULES = (
    "rqstack.worker.jobs.demo",
    "rqstack.worker.jobs.backup",
    "rqstack.worker.jobs.notify",
    "rqstack.worker.jobs.cleanup",
    "rqstack.worker.jobs.report",
)

_JOB_NAME_HELP = "names are letters, digits and . _ - (e.g. backup.postgres)"


@dataclass(frozen=True)
class JobDefinition:
    """A registered job: its name, function and defaults for queue, timeout and retries."""

    name: str
    func: Callable[..., Any]
    queue: str = DEFAULT_QUEUE
    timeout: float | None = None
    retry: int = 0
    retry_intervals: tuple[float, ...] = ()
    description: str = ""
    #: The retry_interval text when it was a spec such as ``exp:10s:10m`` (see rqstack.worker.retry).
    retry_spec: str | None = None

    @property
    def import_path(self) -> str:
        """Where RQ workers import the function from."""
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def parameters(self) -> list[Parameter]:
        """The function's parameters with their types."""
        return describe_parameters(self.func)

    def validate(
        self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
    ) -> tuple[list[Any], dict[str, Any]]:
        """Checked copies of the arguments; InvalidParams when they do not fit."""
        return validate_arguments(self.name, self.func, args, kwargs or {})

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe description for `rqstack jobs` and the API."""
        return {
            "name": self.name,
            "description": self.description,
            "queue": self.queue,
            "timeout": self.timeout,
            "retry": self.retry,
            "retry_intervals": list(self.retry_intervals),
            "parameters": [p.as_dict() for p in self.parameters],
        }


_registry: dict[str, JobDefinition] = {}


def job(
    name: str,
    *,
    queue: str = DEFAULT_QUEUE,
    timeout: str | float | None = None,
    retry: int = 0,
    retry_interval: str | float | Sequence[str | float] | None = None,
    description: str | None = None,
) -> Callable[[F], F]:
    """Register a module-level function as job ``name``: ``@rqstack.job("backup.postgres", retry=3)``."""
    if not _valid_job_name(name):
        raise ConfigError(f"job name {name!r} is not allowed; the job was not registered; {_JOB_NAME_HELP}")
    if not NAME_RE.match(queue):
        raise ConfigError(f"queue {queue!r} of job {name!r} is not allowed; use letters, digits, _ and -")
    timeout_seconds = None if timeout is None else parse_duration(timeout, field="timeout")
    retry_spec = retry_interval if isinstance(retry_interval, str) and ":" in retry_interval else None
    intervals = () if retry_spec is not None else _intervals(retry_interval)
    if retry_spec is not None:
        from rqstack.worker.retry import parse_retry_spec

        parse_retry_spec(retry_spec)  # refuse a bad spec at import time, not at the first failure

    def register(func: F) -> F:
        if "<locals>" in func.__qualname__:
            raise ConfigError(
                f"job {name!r} is defined inside a function; workers could not import it; "
                "define it at module level"
            )
        existing = _registry.get(name)
        if existing is not None and existing.import_path != f"{func.__module__}.{func.__qualname__}":
            raise ConfigError(
                f"job name {name!r} is registered twice ({existing.import_path} and "
                f"{func.__module__}.{func.__qualname__}); the second was refused; give it another name"
            )
        _registry[name] = JobDefinition(
            name=name,
            func=func,
            queue=queue,
            timeout=timeout_seconds,
            retry=retry,
            retry_intervals=intervals,
            description=description or _first_line(func.__doc__),
            retry_spec=retry_spec,
        )
        return func

    return register


def get_job(name: str) -> JobDefinition:
    """The job registered as ``name``; UnknownJob listing the known names otherwise."""
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none"
        raise UnknownJob(
            f"no job is registered as {name!r}; nothing was queued; known jobs: {known} "
            "(add your module to RQSTACK_JOBS to register more)",
            field="job",
        ) from None


def find_by_import_path(path: str) -> JobDefinition | None:
    """The registration of the function RQ knows as ``path``, if it was registered."""
    for definition in _registry.values():
        if definition.import_path == path:
            return definition
    return None


def registered_jobs() -> list[JobDefinition]:
    """Every registered job, sorted by name."""
    return [_registry[name] for name in sorted(_registry)]


def load_jobs(modules: Iterable[str] = ()) -> None:
    """Import the built-in job modules and the user's RQSTACK_JOBS modules so they register."""
    for module in (*BUILTIN_JOB_MODULES, *modules):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"RQSTACK_JOBS names module {module!r}, which cannot be imported ({exc}); its jobs are "
                "unknown; fix the module name or PYTHONPATH",
                field="RQSTACK_JOBS",
            ) from None


def _valid_job_name(name: str) -> bool:
    return bool(name) and len(name) <= 128 and all(c.isalnum() or c in "._-" for c in name) and name.isascii()


def _intervals(value: str | float | Sequence[str | float] | None) -> tuple[float, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(parse_duration_list(value))
    if isinstance(value, int | float):
        return (parse_duration(value, field="retry_interval", allow_zero=True),)
    return tuple(parse_duration(v, field="retry_interval", allow_zero=True) for v in value)


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""
