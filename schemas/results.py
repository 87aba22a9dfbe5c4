"""Typed results of connector operations. "Not found" is a result, never an error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.status import ExportArtifact, RetainedItem
from schemas.subject import Identifier

__all__ = [
    "EraseResult",
    "ExportResult",
    "LocateResult",
    "RecipientNotification",
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


class LocateResult(_Result):
    """Where the subject is: record counts per data category, and identifiers learned there."""

    counts: dict[str, int] = Field(default_factory=dict)
    learned: list[Identifier] = Field(default_factory=list)
    ambiguous: bool = False
    ambiguity_reason: str | None = None

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
    changed: dict[str, int] = Field(default_factory=dict)
    rejected_fields: list[str] = Field(default_factory=list)
    notified: list[RecipientNotification] = Field(default_factory=list)


class RestrictResult(_Result):
    restricted: dict[str, int] = Field(default_factory=dict)
    notified: list[RecipientNotification] = Field(default_factory=list)


class UnsubscribeResult(_Result):
    """Objection / consent withdrawal: processing stopped, the data itself kept (not erased)."""

    unsubscribed: dict[str, int] = Field(default_factory=dict)
