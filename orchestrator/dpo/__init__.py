"""The DPO front door: every read and every decision the CLI, the HTTP API and the dashboard offer,
in one place (no logic in any of them). Reads: `_read` (live query, else the store). Decisions:
`_decide` (Temporal Updates with validators; a rejection is a typed error).
"""

from orchestrator.dpo._decide import (
    DecisionError,
    DecisionRejected,
    RequestNotRunning,
    decide,
)
from orchestrator.dpo._read import (
    AmbiguityView,
    ChartSeries,
    Desk,
    MonthlyReport,
    NotAmbiguous,
    Overview,
    RequestListItem,
    RequestPage,
    RequestQuery,
    RequestView,
    SortField,
    TimelineEntry,
    allowed_decisions,
    identifiers_for_ambiguity,
    month_bounds,
    query_from_filters,
)

__all__ = [
    "AmbiguityView",
    "ChartSeries",
    "DecisionError",
    "DecisionRejected",
    "Desk",
    "MonthlyReport",
    "NotAmbiguous",
    "Overview",
    "RequestListItem",
    "RequestNotRunning",
    "RequestPage",
    "RequestQuery",
    "RequestView",
    "SortField",
    "TimelineEntry",
    "allowed_decisions",
    "decide",
    "identifiers_for_ambiguity",
    "month_bounds",
    "query_from_filters",
]
