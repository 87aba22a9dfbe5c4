"""Request statuses and per-system outcomes: what the DPO, the portal and auditors see."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TERMINAL_STATUSES",
    "ExportArtifact",
    "RequestStatus",
    "RetainedItem",
    "RetentionReason",
    "SystemOutcome",
    "SystemStatus",
]


class RequestStatus(StrEnum):
    RECEIVED = "received"
    AWAITING_VERIFICATION = "awaiting_verification"
    AWAITING_DECISION = "awaiting_decision"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DENIED = "denied"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"


TERMINAL_STATUSES = frozenset(
    {RequestStatus.COMPLETED, RequestStatus.DENIED, RequestStatus.CANCELLED}
)


class SystemOutcome(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    NOT_FOUND = "not_found"
    RETAINED = "retained"
    SKIPPED = "skipped"
    FAILED = "failed"
    MANUAL = "manual"


class RetentionReason(StrEnum):
    """Why data is kept after an erasure request (GDPR Art. 17(3) and the company policy)."""

    BOOKKEEPING = "bookkeeping"  # Bokföringslagen 7 kap. 2 §: 7 years after the financial year
    CONTRACT = "contract"  # an active service the customer still has
    BACKUP_EXPIRY = "backup_expiry"  # immutable backups, deleted after 3 months
    LEGAL_CLAIM = "legal_claim"
    SUPPRESSION = "suppression"  # salted hash kept so the address is never re-imported


class RetainedItem(BaseModel):
    """Data deliberately kept, and until when: every retained record is explained."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str
    count: int = Field(ge=0)
    reason: RetentionReason
    until: date | None
    legal_basis: str

    def describe(self) -> str:
        """'invoices (5): bookkeeping until 2033-12-31' — no end date reads as such, not 'None'."""
        until = f"until {self.until.isoformat()}" if self.until else "with no end date yet"
        return f"{self.category} ({self.count}): {self.reason.value} {until}"


class ExportArtifact(BaseModel):
    """A reference to exported data: the workflow carries this, never the data itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    sha256: str
    size_bytes: int = Field(ge=0)
    records: int = Field(ge=0)


class SystemStatus(BaseModel):
    """One connector's part of a request: its outcome, counts per data category, and why."""

    model_config = ConfigDict(extra="forbid")

    system: str
    outcome: SystemOutcome = SystemOutcome.PENDING
    counts: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None
    retained: list[RetainedItem] = Field(default_factory=list)
    export: ExportArtifact | None = None
    # Art. 19: recipients told of the change, e.g. "se-registry" (names only, no references).
    notified: list[str] = Field(default_factory=list)
