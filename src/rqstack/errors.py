"""Errors rqstack raises; each message names the problem, its consequence and the fix."""

from __future__ import annotations


class RqstackError(Exception):
    """Base of every error rqstack raises on purpose; ``exit_code`` is what the CLI returns."""

    exit_code = 1
    http_status = 500
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        """The JSON error body the API returns."""
        return {"code": self.code, "message": self.message, "field": self.field}


class BadInput(RqstackError):
    """The caller asked for something invalid; nothing was written."""

    exit_code = 2
    http_status = 422
    code = "invalid"


class UnknownJob(BadInput):
    """No job is registered under the given name."""

    code = "unknown_job"


class InvalidParams(BadInput):
    """Arguments do not fit the job's signature or type hints."""

    code = "invalid_params"


class InvalidCron(BadInput):
    """A cron expression that does not parse or never fires."""

    code = "invalid_cron"


class NotFound(RqstackError):
    """A named job or schedule does not exist."""

    exit_code = 2
    http_status = 404
    code = "not_found"


class AlreadyExists(RqstackError):
    """Creating something whose name is taken."""

    exit_code = 2
    http_status = 409
    code = "exists"


class ConfigError(RqstackError):
    """An environment variable or flag holds a value rqstack cannot use."""

    exit_code = 2
    http_status = 500
    code = "config"


class RedisUnavailable(RqstackError):
    """Redis does not answer."""

    exit_code = 1
    http_status = 503
    code = "redis_unavailable"
