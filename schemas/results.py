"""Typed results of connector operations. "Not found" is a result, never an error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.status import ExportArtifact, RetainedItem
from schemas.subject import Identifier

__all__ = ["EraseResult", "ExportResult", "LocateResult", "RectifyResult", "RestrictResult"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str


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


class RectifyResult(_Result):
    changed: dict[str, int] = Field(default_factory=dict)
    rejected_fields: list[str] = Field(default_factory=list)


class RestrictResult(_Result):
    restricted: dict[str, int] = Field(default_factory=dict)
