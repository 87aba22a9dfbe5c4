"""Typed results of connector operations. "Not found" is a result, never an error."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from schemas.status import ExportArtifact, RetainedItem
from schemas.subject import Identifier

__all__ = [
    "EraseResult",
    "ExportResult",
    "LocateResult",
    "RecipientNotification",
    "RecordFacts",
    "RectifyResult",
    "RestrictResult",
    "UnsubscribeResult",
]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str


class RecipientNotification(BaseModel):
    """Art. 19: a recipient (e.g. the .se registry) told of a rectification, erasure or
    restriction. `reference` is the recipient's own id for the change (a handle, a ticket)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipient: str
    action: str
    reference: str


class RecordFacts(BaseModel):
    """Facts about a group of the subject's records that the policy needs to decide on them.

    Connectors report facts, never decisions: the planner (policy/planner.py) reads these and
    decides export / delete / anonymise / retain(until). Records with identical facts are one
    group with a `count`, so the size stays bounded. `refs` are the connector's own opaque record
    references (e.g. "invoice:1042"), never personal data; they let the plan name exactly which
    records to keep or delete (per-record retention) and let a deferred erasure find them years
    later, after the subject's identifiers are gone. Empty `refs`: the whole group, by subject.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str
    count: int = Field(default=1, ge=0)
    refs: tuple[str, ...] = ()
    financial_year_end: date | None = None  # bookkeeping: the voucher's financial year
    contract_active: bool | None = None  # a running service / registration the data serves
    contract_end: date | None = None  # when it ends (domain expiry), if known
    created_on: date | None = None  # e.g. a backup's creation date
    legal_hold: bool = False  # under a legal hold (a claim, a dispute)


class LocateResult(_Result):
    """Where the subject is: record counts per data category, and identifiers learned there."""

    counts: dict[str, int] = Field(default_factory=dict)
    learned: list[Identifier] = Field(default_factory=list)
    ambiguous: bool = False
    ambiguity_reason: str | None = None
    # Per-record facts for the planner. A category in `counts` without facts is planned as one
    # group (the category's default rule), so connectors add facts only where they matter.
    facts: list[RecordFacts] = Field(default_factory=list)

    @property
    def found(self) -> bool:
        return any(self.counts.values())


class ExportResult(_Result):
    counts: dict[str, int] = Field(default_factory=dict)
    artifact: ExportArtifact | None = None


class EraseResult(_Result):
    """What an erasure did: deleted and anonymised counts per category, what was kept and why."""

    deleted: dict[str, int] = Field(default_factory=dict)
    anonymised: dict[str, int] = Field(default_factory=dict)
    retained: list[RetainedItem] = Field(default_factory=list)
    evidence: str = ""
    notified: list[RecipientNotification] = Field(default_factory=list)


class RectifyResult(_Result):
    """What a rectification did, and each field it did not apply, by why: the subject must be
    told the truth (Art. 12(3)-(4)), and only one of the three is nothing to do.

    - `rejected_fields`: the system does not hold the field — nothing to change here;
    - `refused_fields`: it holds the field but could not store the value given (not valid here,
      or another record's, e.g. an address another subscriber has) — a person must follow up;
    - `unchanged_fields`: it holds the field but its connector does not change it (a
      personnummer) — a person must change it by hand.
    """

    changed: dict[str, int] = Field(default_factory=dict)
    rejected_fields: list[str] = Field(default_factory=list)
    refused_fields: list[str] = Field(default_factory=list)
    unchanged_fields: list[str] = Field(default_factory=list)
    notified: list[RecipientNotification] = Field(default_factory=list)

    @property
    def needs_a_person(self) -> bool:
        return bool(self.refused_fields or self.unchanged_fields)


class RestrictResult(_Result):
    restricted: dict[str, int] = Field(default_factory=dict)
    notified: list[RecipientNotification] = Field(default_factory=list)


class UnsubscribeResult(_Result):
    """Objection / consent withdrawal: processing stopped, the data itself kept (not erased)."""

    unsubscribed: dict[str, int] = Field(default_factory=dict)
