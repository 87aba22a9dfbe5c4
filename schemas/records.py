"""What the store keeps: request summaries, completion records and the audit trail.

None of these hold the subject's personal data: identifiers stay in the (encrypted) workflow
history and in the systems themselves. Auditors can read all of this without seeing who it was.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.events import Channel, RequestKind, VerificationMethod
from schemas.package import PackageRef
from schemas.plan import Plan
from schemas.status import (
    DecisionEntry,
    Extension,
    ReminderEntry,
    RequestStatus,
    RestrictionNotice,
    RestrictionState,
    SystemOutcome,
    SystemStatus,
)

__all__ = [
    "AuditAction",
    "AuditEvent",
    "CompletionRecord",
    "FollowUpEntry",
    "RequestSummary",
    "RestrictionLiftRecord",
    "SystemLift",
]


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
    # The lifecycle (all additive): the deadline day in Europe/Stockholm, an Art. 12(3)
    # extension, reminders that fired, and every DPO decision with actor, time and reason.
    due_date: date | None = None
    extension: Extension | None = None
    reminders: list[ReminderEntry] = Field(default_factory=list)
    decisions: list[DecisionEntry] = Field(default_factory=list)
    # Access/portability: the encrypted package's reference and expiry (never the data).
    package: PackageRef | None = None
    # Restriction (Art. 18): lifting it, once a DPO decided to (additive; None: in force).
    restriction: RestrictionNotice | None = None


class FollowUpEntry(BaseModel):
    """An entry appended to a completion record after it was written: a deferred erasure run
    when a retention period ended (what was erased, per system and category, counts only).

    One entry per `due_on`: a later attempt for the same date replaces the earlier one in the
    record (the audit trail keeps every attempt). `note` names systems and error kinds only.
    A failed entry with `retry_at` is still being tried (workflows/follow_up.py, from
    follow-up-retry-v1 on); one without it was recorded by a chain that gave up (before that).
    """

    model_config = ConfigDict(extra="forbid")

    due_on: date
    ran_at: AwareDatetime
    # Cumulative: what every attempt for this date erased, per system that succeeded.
    erased: dict[str, dict[str, int]] = Field(default_factory=dict)
    outcome: str = "done"
    note: str = ""
    attempt: int = Field(default=1, ge=1)
    retry_at: AwareDatetime | None = None  # when the failed systems are tried again

    @property
    def retrying(self) -> bool:
        """Failed for now, and the chain will try the failed systems again at `retry_at`."""
        return self.outcome == "failed" and self.retry_at is not None


class SystemLift(BaseModel):
    """One system's part in lifting a restriction: `done` (lifted, counts per category),
    `not_found` (its restrict call restricted nothing, and nothing is restricted there now),
    `retained` (left restricted: another restriction request of the same subject, named by
    `kept_under`, is in force and restricted it too — the system keeps one flag per record, so
    lifting it here would lift that one; it is lifted with that request's lift), `manual` (a
    person's task: the system has no lift operation, was restricted by hand, its connector is
    gone, or the lift found nothing although the restrict call had restricted records) or
    `failed` (the lift failed after its retries: also a person's task). `reason` names the
    system, a request id and an error kind only, never a record or the subject."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    outcome: SystemOutcome
    counts: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None
    notified: list[str] = Field(default_factory=list)  # Art. 19 recipients the connector told
    kept_under: str | None = None  # `retained`: the restriction request it stays restricted for

    @property
    def needs_person(self) -> bool:
        return self.outcome in (SystemOutcome.MANUAL, SystemOutcome.FAILED)


class RestrictionLiftRecord(BaseModel):
    """Proof that a restriction was lifted: who decided, when, why, what each system did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requested_by: str
    requested_at: AwareDatetime
    note: str
    state: RestrictionState
    announced_at: AwareDatetime  # Art. 18(3): the subject told, before any system was touched
    finished_at: AwareDatetime
    systems: list[SystemLift] = Field(default_factory=list)

    @property
    def tasks(self) -> list[SystemLift]:
        """The systems a person must still lift by hand."""
        return [s for s in self.systems if s.needs_person]


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
    due_date: date | None = None
    extension: Extension | None = None
    decisions: list[DecisionEntry] = Field(default_factory=list)
    # What the policy decided (per system and category), and the deferred erasures run since.
    plan: Plan | None = None
    follow_ups: list[FollowUpEntry] = Field(default_factory=list)
    package: PackageRef | None = None
    # A restriction request's restriction lifted afterwards (workflows/lift_restriction.py).
    restriction_lift: RestrictionLiftRecord | None = None


class AuditAction(StrEnum):
    REQUEST_ACCEPTED = "request_accepted"
    STATUS_CHANGED = "status_changed"
    SYSTEM_OUTCOME = "system_outcome"
    DECISION = "decision"
    COMPLETION_RECORDED = "completion_recorded"
    # A retention period ended: the retained items were erased (workflows/follow_up.py).
    DEFERRED_ERASURE = "deferred_erasure"
    # The legal clock: an Art. 12(3) extension, and the durable deadline reminders.
    DEADLINE_EXTENDED = "deadline_extended"
    DEADLINE_REMINDER = "deadline_reminder"
    # The Temporal Web UI decrypted payloads through the codec server (actor = the token name).
    PAYLOAD_DECRYPTED = "payload_decrypted"
    # Dead letters: an operator read one (`dsr dlq show`) or re-drove it (`dsr dlq redrive`);
    # the reconciler found a record the intake had not accounted for and re-drove it.
    DEAD_LETTER_READ = "dead_letter_read"
    DEAD_LETTER_REDRIVEN = "dead_letter_redriven"
    RECONCILED = "reconciled"
    # The desk showed a DPO the identifiers behind an ambiguous match (personal data): who, when.
    IDENTIFIERS_VIEWED = "identifiers_viewed"
    # At rest: the access package built, deleted at its expiry; the request's data key
    # destroyed (crypto-shredding: its history, package and sealed copies are unreadable).
    PACKAGE_CREATED = "package_created"
    PACKAGE_DELETED = "package_deleted"
    DATA_KEY_DESTROYED = "data_key_destroyed"
    # Art. 19, with the completion record: a recipient told of an erasure, rectification or
    # restriction by its connector, or a person's task to tell it (with what must be done).
    RECIPIENT_NOTIFIED = "recipient_notified"
    RECIPIENT_TASK = "recipient_task"
    # Art. 18: a closed restriction request's restriction lifted, per system (who asked, when,
    # why, and what each system did; a system not lifted is a person's task).
    RESTRICTION_LIFTED = "restriction_lifted"


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
