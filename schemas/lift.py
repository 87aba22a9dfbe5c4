"""Lifting a restriction of processing (Art. 18): the DPO's decision, the lift workflow's input,
and what crosses the Temporal boundary between it and its activities.

The subject's identifiers travel only inside `RestrictedSystem.subject`, read from the
restriction request's own (encrypted) history — exactly the identifiers each system was
restricted by — and sealed again with the request's data key in the lift's history (its
workflow id names the request, `lift_workflow_id`). Never from anything a DPO typed.

They are read while that history still exists: when the restriction request's completion record
is stored (its workflow still running), the worker starts the lift as a *hold* that carries them
and waits for the DPO's decision for as long as the restriction is in force — months, long after
Temporal dropped the request's own history (orchestrator/restriction_hold.py).
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.records import RequestSummary, RestrictionLiftRecord
from schemas.subject import SubjectRef
from schemas.workflow import WorkflowTuning, workflow_id_for

__all__ = [
    "LIFT_WORKFLOW_SUFFIX",
    "LiftDecision",
    "LiftRecordAppend",
    "LiftRestriction",
    "LiftRestrictionInput",
    "OtherRestrictions",
    "RestrictedSystem",
    "RestrictionCheck",
    "RestrictionToLift",
    "lift_workflow_id",
]

LIFT_WORKFLOW_SUFFIX = ".lift-restriction"


def lift_workflow_id(request_id: str) -> str:
    """`dsr-<request id>.lift-restriction`: one lift per request (a second start is refused by
    id). The `.` cannot occur in a request id, so no request's own workflow can have this id
    (`dsr-lift-<id>` would be the workflow of a request called `lift-<id>`), and the payload
    codec reads the request from it (`dsr-<id>.<suffix>`): the identifiers in the lift's history
    are sealed with the request's data key and shredded with it."""
    return f"{workflow_id_for(request_id)}{LIFT_WORKFLOW_SUFFIX}"


class LiftRestriction(BaseModel):
    """The DPO's decision: lift the restriction of a closed restriction request, and why (e.g.
    "accuracy verified", Art. 18(1)(a)). The note is told to the subject on `dsr.status.v1`,
    so it is checked for personal data like every published decision text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str
    note: str = ""


class LiftDecision(BaseModel):
    """A decision the lift took: who, when (the workflow's clock when it was accepted), why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str
    note: str
    requested_at: AwareDatetime


class RestrictedSystem(BaseModel):
    """A system the restriction request restricted. `subject`: the identifiers its restrict
    call used (personal data, encrypted in history); None when it was restricted by hand (the
    DPO resolved it) and there is nothing to call, `by_hand` saying so."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    subject: SubjectRef | None = None
    restricted: dict[str, int] = Field(default_factory=dict)
    by_hand: str | None = None

    def __repr__(self) -> str:
        return f"RestrictedSystem({self.system})"

    __str__ = __repr__


class LiftRestrictionInput(BaseModel):
    """The lift workflow's input, in one of two shapes:

    - a hold (`systems` given, `decision` None): started when the restriction request closed,
      with each restricted system read from its history then; it waits for the DPO's decision
      (the workflow's `lift` Update) for as long as it takes;
    - a lift decided at once (`decision` given, `systems` None): a restriction request closed
      before holds existed; its first activity reads the systems from the request's history,
      which must still exist.

    `systems` holds the identifiers: it is sealed with the request's data key like every payload
    of `dsr-<id>.*` workflows, and its repr names systems only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    decision: LiftDecision | None = None
    systems: list[RestrictedSystem] | None = None
    tuning: WorkflowTuning = WorkflowTuning()

    def __repr__(self) -> str:
        held = None if self.systems is None else [s.system for s in self.systems]
        return f"LiftRestrictionInput({self.request_id}, systems={held})"

    __str__ = __repr__


class RestrictionToLift(BaseModel):
    """What the lift works from: the request as stored (to publish its state), each restricted
    system, and the restriction's own connector tuning (timeouts, retries)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    summary: RequestSummary
    systems: list[RestrictedSystem]
    tuning: WorkflowTuning = WorkflowTuning()


class LiftRecordAppend(BaseModel):
    """The lift's record, for the request's completion record and the audit trail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    record: RestrictionLiftRecord


class RestrictionCheck(BaseModel):
    """Ask which other restrictions of the same subject are in force: the lift's request, and
    the subject of every system it restricted (the activity fingerprints them with the subject
    hash key; the store only ever sees the keyed hashes). Sealed in the lift's history like its
    input; its repr names no identifier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    subjects: list[SubjectRef] = Field(default_factory=list)

    def __repr__(self) -> str:
        return f"RestrictionCheck({self.request_id}, subjects={len(self.subjects)})"

    __str__ = __repr__


class OtherRestrictions(BaseModel):
    """Per system, the other restriction request in force (its hold waiting for its own lift)
    that restricted it for the same subject: the system has one restriction flag per record,
    so lifting it for this request would lift that one too. Request ids only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by_system: dict[str, str] = Field(default_factory=dict)
