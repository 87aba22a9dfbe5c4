"""Models that cross the Temporal boundary: workflow input, activity calls, status updates.

They carry identifiers and references, never data dumps; payloads are encrypted by the codec.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.events import DsrRequestedData, FieldChange
from schemas.plan import SystemPlan
from schemas.records import AuditAction, FollowUpEntry, RequestSummary
from schemas.status import (
    DecisionKind,
    DenialCode,
    RequestStatus,
    RestrictionState,
    SystemOutcome,
)
from schemas.subject import Identifier, SubjectRef

__all__ = [
    "Approve",
    "Cancel",
    "ConnectorCall",
    "DecisionReceipt",
    "Deny",
    "DenyDecision",
    "DsrWorkflowInput",
    "Extend",
    "FollowUpAppend",
    "FollowUpDecision",
    "IdentityConfirmation",
    "NarrowSubject",
    "RepeatCheck",
    "RepeatCheckResult",
    "Resolution",
    "ResolutionAction",
    "ResolveSystem",
    "RetryDeferredErasure",
    "RetrySystem",
    "SkipSystem",
    "StatusUpdate",
    "WorkflowTuning",
    "workflow_id_for",
]


def workflow_id_for(request_id: str) -> str:
    """One workflow per request: a duplicate event maps to the same id and is a no-op."""
    return f"dsr-{request_id}"


class WorkflowTuning(BaseModel):
    """Timeouts and retry bounds for connector activities (settings, so tests can shorten them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    activity_start_to_close: timedelta = timedelta(minutes=15)
    activity_heartbeat: timedelta = timedelta(seconds=30)
    activity_schedule_to_close: timedelta = timedelta(hours=6)
    retry_initial_interval: timedelta = timedelta(seconds=1)
    retry_maximum_interval: timedelta = timedelta(minutes=5)
    discovery_rounds: int = Field(default=3, ge=1, le=10)


class DsrWorkflowInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_source: str
    request: DsrRequestedData
    tuning: WorkflowTuning = WorkflowTuning()


class ConnectorCall(BaseModel):
    """One connector operation for one request: the subject's identifiers and what to do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    subject: SubjectRef
    today: date
    changes: list[FieldChange] = Field(default_factory=list)
    # Erasure (and the other changing operations): this system's slice of the policy's plan.
    plan: SystemPlan | None = None


class StatusUpdate(BaseModel):
    """A status change: stored, appended to the audit trail and published to the portal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    summary: RequestSummary
    action: AuditAction
    actor: str
    details: dict[str, object] = Field(default_factory=dict)
    dedupe_key: str


class IdentityConfirmation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str
    method: str = "manual_check"


class DenyDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str
    reason: str


class ResolutionAction(StrEnum):
    RETRY = "retry"  # run the failed systems again
    CLOSE = "close"  # the DPO accepts the outcome (e.g. manual work done) and closes


class Resolution(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str
    action: ResolutionAction
    note: str = ""


# ── DPO decisions: Temporal Updates of DsrWorkflowV2 ──────────────────────────────────────────
# The models are deliberately lenient (a missing code or note is allowed here): the workflow's
# update validators decide, so every invalid decision is rejected with one clear message and
# changes nothing, whoever sent it (the CLI, the API, a script).
class _Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str


class Approve(_Decision):
    """Let a request waiting in awaiting_decision (e.g. a repeated access request) proceed."""

    note: str = ""


class Deny(_Decision):
    reason_code: DenialCode | None = None
    note: str = ""


class Extend(_Decision):
    """Art. 12(3): extend the deadline by 1 or 2 months, once, before it passes, with a reason."""

    months: int
    reason: str = ""


class Cancel(_Decision):
    reason: str = ""


class ResolveSystem(_Decision):
    """A system that failed or needs manual work was handled by hand: record its outcome."""

    system: str
    outcome: SystemOutcome
    note: str = ""


class RetrySystem(_Decision):
    system: str


class RetryDeferredErasure(_Decision):
    """A closed request's deferred erasure failed in a system (its retention ended, and the
    system refused: a rotated credential, a configuration, a connector missing) and is tried
    again after a back-off of up to a day: try it now, the cause being fixed. Sent to the
    request's deferred-erasure chain (workflows/follow_up.py), not to the request's workflow."""

    note: str = ""


class SkipSystem(_Decision):
    system: str
    reason: str = ""


class NarrowSubject(_Decision):
    """An ambiguous match: the DPO established who the subject is (e.g. by personnummer); the
    request continues for that person only."""

    identifier: Identifier


class DecisionReceipt(BaseModel):
    """What an accepted decision returns: where the request stands now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    decision: str
    status: RequestStatus
    due_date: date | None = None
    due_at: AwareDatetime | None = None
    # A lift of the request's restriction (Art. 18): where it stands once it was started.
    restriction: RestrictionState | None = None


class RepeatCheck(BaseModel):
    """Ask the store whether the subject had a request of the same kind (access, portability) in
    the window (the activity hashes the identifiers with the subject hash key; the store never
    sees them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    kind: str
    received_at: AwareDatetime
    since: AwareDatetime
    subject: SubjectRef


class RepeatCheckResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    earlier_request_ids: list[str] = Field(default_factory=list)


class FollowUpDecision(BaseModel):
    """A DPO's decision on a request's deferred erasure, for the audit trail (who, when, why;
    no personal data: the note is checked before it is sent, orchestrator/dpo/_deferred.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    decision: DecisionKind
    actor: str
    at: AwareDatetime
    note: str = ""
    dedupe_key: str


class FollowUpAppend(BaseModel):
    """A deferred erasure's entry for the request's completion record (counts only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    entry: FollowUpEntry
