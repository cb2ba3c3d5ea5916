"""The JSON API under /api/: one blueprint, routes split by resource."""

from rqstack.dashboard.api import jobs, schedules, system  # noqa: F401  (modules register routes)
from rqstack.dashboard.api.base import api

__all__ = ["api"]
