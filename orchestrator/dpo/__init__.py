"""The DPO front door: every read and every decision the CLI, the HTTP API and the dashboard offer,
in one place (no logic in any of them). Reads: `_read` (live query, else the store). Decisions:
`_decide` (Temporal Updates with validators; a rejection is a typed error), `_lift` (a closed
restriction request's restriction lifted: a workflow of its own) and `_deferred` (a failed
deferred erasure tried again now: an Update of the request's deferred-erasure chain). The audit
trail's verification: `_audit` (what may be reported as verified).
"""

from orchestrator.dpo._audit import AuditNotVerifiable, verify_audit
from orchestrator.dpo._decide import (
    DecisionError,
    DecisionRejected,
    DecisionUnavailable,
    RequestNotRunning,
    decide,
    decision_client,
)
from orchestrator.dpo._deferred import retry_deferred_erasure
from orchestrator.dpo._lift import (
    NotARestriction,
    NothingRestricted,
    RestrictionAlreadyLifted,
    RestrictionNotFinished,
    RestrictionNotLiftable,
    RestrictionUnavailable,
    lift_restriction,
)
from orchestrator.dpo._read import (
    AmbiguityView,
    ChartSeries,
    Desk,
    FollowUpView,
    MonthlyReport,
    NotAmbiguous,
    Overview,
    RequestListItem,
    RequestPage,
    RequestQuery,
    RequestView,
    SortField,
    StuckWorkflow,
    TimelineEntry,
    allowed_decisions,
    due_this_week,
    identifiers_for_ambiguity,
    month_bounds,
    query_from_filters,
)

__all__ = [
    "AmbiguityView",
    "AuditNotVerifiable",
    "ChartSeries",
    "DecisionError",
    "DecisionRejected",
    "DecisionUnavailable",
    "Desk",
    "FollowUpView",
    "MonthlyReport",
    "NotARestriction",
    "NotAmbiguous",
    "NothingRestricted",
    "Overview",
    "RequestListItem",
    "RequestNotRunning",
    "RequestPage",
    "RequestQuery",
    "RequestView",
    "RestrictionAlreadyLifted",
    "RestrictionNotFinished",
    "RestrictionNotLiftable",
    "RestrictionUnavailable",
    "SortField",
    "StuckWorkflow",
    "TimelineEntry",
    "allowed_decisions",
    "decide",
    "decision_client",
    "due_this_week",
    "identifiers_for_ambiguity",
    "lift_restriction",
    "month_bounds",
    "query_from_filters",
    "retry_deferred_erasure",
    "verify_audit",
]
