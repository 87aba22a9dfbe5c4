"""The reconciler's contract: what one run examined, proved and re-drove (no personal data)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ReconcileInput", "ReconcileReport", "RedrivenRecord"]


class ReconcileInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Bound on one run's work; the next run goes on from the checkpoint.
    max_records: int = Field(default=50_000, ge=1)


class RedrivenRecord(BaseModel):
    """A record the intake had not accounted for, and what re-driving it did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    partition: int
    offset: int
    request_id: str | None
    outcome: str  # IntakeOutcome: started | duplicate | dead_lettered


class ReconcileReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    examined: int = 0
    accounted: int = 0  # had a workflow (or a stored request) or a dead letter already
    # Past the intake's committed offsets: still the intake's to handle, not missing.
    pending: int = 0
    redriven: list[RedrivenRecord] = Field(default_factory=list)
    # partition -> the next offset to examine (the checkpoint after this run)
    checkpoint: dict[int, int] = Field(default_factory=dict)
    # Records between the checkpoint and the log's start that retention deleted before they
    # were proven: never examined, reported (also as an audit entry) rather than jumped over.
    lost_to_retention: int = 0
    # partition -> a checkpoint that pointed past the log's end (the topic was recreated or
    # truncated): the partition is read again from its start, and this is reported.
    checkpoint_resets: dict[int, int] = Field(default_factory=dict)
    # partition -> why it stopped ("<error type> at offset N", nothing personal). The other
    # partitions are still reconciled; the run then fails, so a failure is never silent.
    failed: dict[int, str] = Field(default_factory=dict)
    # Records another run is re-driving right now (its claim is fresh): left for the next run.
    deferred: int = 0
    # Records up to the intake's offsets this run had no time (or record budget) left for.
    remaining: int = 0
