"""Request metrics: status transitions, time to complete and deadline slack as they happen, and
the open/overdue gauges from the store.

Transitions are counted where every status change passes exactly once it has succeeded: the
status publisher of `OrchestratorActivities` (wrapped here; the workflow code knows nothing of
metrics). Open and overdue requests are a property of the whole system, not of one process, so
they are read from the store at scrape time; every worker reports the same figure (aggregate
with `max`, not `sum`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.store._tables import requests  # the table itself: counting needs no model
from orchestrator.telemetry._metrics import (
    COMPLETION_SECONDS,
    DEADLINE_SLACK_DAYS,
    OPEN_REQUESTS,
    OVERDUE_REQUESTS,
    STATUS_TRANSITIONS,
)
from schemas.events import RequestKind
from schemas.records import RequestSummary
from schemas.status import TERMINAL_STATUSES, RequestStatus

if TYPE_CHECKING:  # a Protocol, for annotations only: importing it at run time loaded
    # workflows.activities and the connector base into the intake, which publishes nothing
    from workflows.activities import StatusPublisher

__all__ = ["MeteredStatusPublisher", "OpenRequestsGauge", "observe_status"]

_DAY = 86_400.0
_OPEN_STATUSES = [s for s in RequestStatus if s not in TERMINAL_STATUSES]


def observe_status(summary: RequestSummary) -> None:
    """Count one status change; at a final status, observe time to complete and slack."""
    kind, status = str(summary.kind), str(summary.status)
    STATUS_TRANSITIONS.labels(kind, status).inc()
    if summary.status in TERMINAL_STATUSES:
        finished = summary.completed_at or summary.updated_at
        elapsed = (finished - summary.received_at).total_seconds()
        COMPLETION_SECONDS.labels(kind, status).observe(max(elapsed, 0.0))
        slack = (summary.due_at - finished).total_seconds() / _DAY
        DEADLINE_SLACK_DAYS.labels(kind, status).observe(slack)


class MeteredStatusPublisher:
    """A `StatusPublisher` that records metrics for each status it has published."""

    def __init__(self, inner: StatusPublisher) -> None:
        self._inner = inner

    async def publish(self, summary: RequestSummary) -> None:
        await self._inner.publish(summary)
        observe_status(summary)


class OpenRequestsGauge:
    """Refreshes `dsr_requests_open` and `dsr_requests_overdue` from the store."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def refresh(self) -> None:
        open_filter = requests.c.status.in_([str(s) for s in _OPEN_STATUSES])
        by_status = sa.select(requests.c.kind, requests.c.status, sa.func.count()).where(
            open_filter
        )
        overdue = sa.select(requests.c.kind, sa.func.count()).where(
            open_filter, requests.c.due_at < datetime.now(UTC)
        )
        # Our own bookkeeping query, every scrape: not something a trace should show.
        with suppress_instrumentation():
            async with self._engine.connect() as conn:
                open_rows = (
                    await conn.execute(by_status.group_by(requests.c.kind, requests.c.status))
                ).all()
                overdue_rows = (await conn.execute(overdue.group_by(requests.c.kind))).all()
        counts = {(str(k), str(s)): int(n) for k, s, n in open_rows}
        late = {str(k): int(n) for k, n in overdue_rows}
        # Every known combination is set (zeros too), so a series never lingers at an old value.
        for kind in RequestKind:
            for status in _OPEN_STATUSES:
                OPEN_REQUESTS.labels(str(kind), str(status)).set(
                    counts.get((str(kind), str(status)), 0)
                )
            OVERDUE_REQUESTS.labels(str(kind)).set(late.get(str(kind), 0))
