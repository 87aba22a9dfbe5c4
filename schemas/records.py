"""What the store keeps: request summaries, completion records and the audit trail.

None of these hold the subject's personal data: identifiers stay in the (encrypted) workflow
history and in the systems themselves. Auditors can read all of this without seeing who it was.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.events import Channel, RequestKind, VerificationMethod
from schemas.status import RequestStatus, SystemStatus

__all__ = ["AuditAction", "AuditEvent", "CompletionRecord", "RequestSummary"]


class RequestSummary(BaseModel):
    """The current state of one request, as `dsr list` and the dashboard show it."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    kind: RequestKind
    channel: Channel
    status: RequestStatus
    received_at: AwareDatetime
    due_at: AwareDatetime
    updated_at: AwareDatetime
    completed_at: AwareDatetime | None = None
    reason: str | None = None
    systems: list[SystemStatus] = Field(default_factory=list)


class CompletionRecord(BaseModel):
    """Proof of what was done for a request, per system: found, exported, erased, retained."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    kind: RequestKind
    channel: Channel
    status: RequestStatus
    event_id: str
    verification_method: VerificationMethod
    received_at: AwareDatetime
    due_at: AwareDatetime
    completed_at: AwareDatetime
    workflow_id: str
    workflow_run_id: str
    systems: list[SystemStatus]
    reason: str | None = None


class AuditAction(StrEnum):
    REQUEST_ACCEPTED = "request_accepted"
    STATUS_CHANGED = "status_changed"
    SYSTEM_OUTCOME = "system_outcome"
    DECISION = "decision"
    COMPLETION_RECORDED = "completion_recorded"
    # The Temporal Web UI decrypted payloads through the codec server (actor = the token name).
    PAYLOAD_DECRYPTED = "payload_decrypted"


class AuditEvent(BaseModel):
    """One append-only audit entry. `sequence` and `hash` are set by the store (hash chain)."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    action: AuditAction
    actor: str
    at: AwareDatetime
    details: dict[str, object] = Field(default_factory=dict)
    # Idempotency: an activity retried after a crash must not append the same entry twice.
    dedupe_key: str
    sequence: int | None = None
    prev_hash: str | None = None
    hash: str | None = None
