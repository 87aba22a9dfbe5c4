"""The DPO front door: every read and every decision the CLI, the HTTP API and the dashboard offer,
in one place (no logic in any of them). Reads: `_read` (live query, else the store). Decisions:
`_decide` (Temporal Updates with validators; a rejection is a typed error).
"""

from orchestrator.dpo._read import (
    ChartSeries,
    Desk,
    MonthlyReport,
    Overview,
    RequestListItem,
    RequestPage,
    RequestQuery,
    RequestView,
    SortField,
    TimelineEntry,
    allowed_decisions,
)

__all__ = [
    "ChartSeries",
    "Desk",
    "MonthlyReport",
    "Overview",
    "RequestListItem",
    "RequestPage",
    "RequestQuery",
    "RequestView",
    "SortField",
    "TimelineEntry",
    "allowed_decisions",
]
