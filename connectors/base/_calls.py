"""When the operation a connector is carrying out was first asked for.

An operation may run more than once for one request: Temporal retries an activity whose worker
died after the change was made but before it was reported. A connector that reads back what
the system recorded (the registrar's registry updates, the Art. 19 proof of a rectification)
must then cite what this operation did — not what an earlier, separate request did to the same
fields. The activity that runs the connector says when the operation was first scheduled
(`operation_first_asked`); the connector asks `first_asked()` and takes only what the system
recorded since. None outside an activity (a script, a test that does not say): then nothing
recorded earlier may be cited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

__all__ = ["CLOCK_MARGIN", "first_asked", "operation_first_asked"]

# The system's clock and Temporal's may disagree a little: what a system recorded this long
# before the operation was first scheduled still counts as the operation's own.
CLOCK_MARGIN = timedelta(minutes=2)

_FIRST_ASKED: ContextVar[datetime | None] = ContextVar("dsr_operation_first_asked", default=None)


@contextmanager
def operation_first_asked(at: datetime) -> Iterator[None]:
    """Run the connector call inside with `at` as the time its operation was first asked for."""
    token = _FIRST_ASKED.set(at)
    try:
        yield
    finally:
        _FIRST_ASKED.reset(token)


def first_asked() -> datetime | None:
    """When the current operation was first asked for, less `CLOCK_MARGIN`; None if unknown."""
    at = _FIRST_ASKED.get()
    return None if at is None else at - CLOCK_MARGIN
