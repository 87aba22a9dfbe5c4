"""Models that cross the Temporal boundary: workflow input, activity calls, status updates.

They carry identifiers and references, never data dumps; payloads are encrypted by the codec.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import DsrRequestedData, FieldChange
from schemas.plan import SystemPlan
from schemas.records import AuditAction, RequestSummary
from schemas.subject import SubjectRef

__all__ = [
    "ConnectorCall",
    "DenyDecision",
    "DsrWorkflowInput",
    "IdentityConfirmation",
    "Resolution",
    "ResolutionAction",
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
