"""Request statuses and per-system outcomes: what the DPO, the portal and auditors see."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "TERMINAL_STATUSES",
    "DecisionEntry",
    "DecisionKind",
    "DenialCode",
    "ExportArtifact",
    "Extension",
    "ReminderEntry",
    "RequestStatus",
    "RestrictionNotice",
    "RestrictionState",
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


class DenialCode(StrEnum):
    """Why a request is refused (Art. 12(4): the subject is told why, and of the right to
    complain to Integritetsskyddsmyndigheten)."""

    INSUFFICIENT_VERIFICATION = "insufficient_verification"  # identity never confirmed
    NO_MATCH = "no_match"  # the identifiers match nobody we hold data on
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded"  # Art. 12(5)
    EXCESSIVE = "excessive"  # Art. 12(5), e.g. a repeated request
    LEGAL_EXEMPTION = "legal_exemption"  # e.g. Art. 17(3), Art. 23 restrictions
    OTHER = "other"  # needs a note saying why


class DecisionKind(StrEnum):
    CONFIRM_IDENTITY = "confirm_identity"
    APPROVE = "approve"
    DENY = "deny"
    EXTEND = "extend"
    CANCEL = "cancel"
    RESOLVE_SYSTEM = "resolve_system"
    RETRY_SYSTEM = "retry_system"
    SKIP_SYSTEM = "skip_system"
    NARROW_SUBJECT = "narrow_subject"
    # Art. 18: a closed restriction request's restriction lifted (orchestrator/dpo/_lift.py).
    LIFT_RESTRICTION = "lift_restriction"
    # A closed request's deferred erasure that failed in a system, tried again now that the
    # cause is fixed (workflows/follow_up.py; orchestrator/dpo/_deferred.py).
    RETRY_DEFERRED_ERASURE = "retry_deferred_erasure"


class DecisionEntry(BaseModel):
    """One DPO decision as the summary and the audit trail keep it: what, who, when, why.
    Never an identifier's value (a narrowing records only the identifier's type)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: DecisionKind
    actor: str
    at: AwareDatetime
    reason: str | None = None
    system: str | None = None
    details: dict[str, str] = Field(default_factory=dict)


class Extension(BaseModel):
    """Art. 12(3): the deadline extended once, by one or two months, with a reason the subject
    is told (published on dsr.status.v1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    months: int = Field(ge=1, le=2)
    reason: str
    extended_at: AwareDatetime
    original_due_date: date
    due_date: date
    due_at: AwareDatetime


class ReminderEntry(BaseModel):
    """A deadline reminder that fired: 7_days_left, 1_day_left or overdue, for which due date."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    at: AwareDatetime
    due_date: date


class RestrictionState(StrEnum):
    """Where lifting a restriction of processing (Art. 18) stands, as the portal is told.

    `lifting` is published before any system is touched: Art. 18(3) requires the subject to be
    informed before the restriction is lifted. `lifted`: the restriction of this request is
    lifted everywhere — a system that another restriction request of the same subject, still
    in force, restricted too stays restricted under that one (`retained` in the lift's record,
    naming it), since the subject's data is still restricted there for that reason, not this.
    `partly_lifted`: the systems that could be are lifted; the others (no lift operation there,
    it failed, or it found nothing to lift) are left to a person and are not reported as
    lifted."""

    LIFTING = "lifting"
    LIFTED = "lifted"
    PARTLY_LIFTED = "partly_lifted"


class RestrictionNotice(BaseModel):
    """The restriction's state on `dsr.status.v1` (additive: absent while nobody lifts it).
    `reason` is the DPO's note, published verbatim (checked for personal data first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: RestrictionState
    changed_at: AwareDatetime
    reason: str | None = None
