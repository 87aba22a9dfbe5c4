"""LiftRestriction: a closed restriction request's restriction of processing (Art. 18) lifted,
once a DPO decided to (orchestrator/dpo/_lift.py starts it).

    restricted systems → tell the portal "lifting" → lift each → record → tell the portal

Why a workflow of its own, not an Update of the request's: the restriction is lifted after the
request closed — when the accuracy it was restricted for has been verified (Art. 18(1)(a)),
weeks later — and a closed workflow takes no Updates. Its id, `dsr-<id>.lift-restriction`
(`schemas.lift.lift_workflow_id`), makes a second start a no-op and keeps its payloads under the
request's data key.

Why in this order: Art. 18(3) requires the subject to be informed before the restriction is
lifted, so `lifting` is stored and published (with the DPO's decision in the audit trail)
before any system is touched. Each system is lifted with the identifiers its own restrict call
used, read from the request's encrypted history by the first activity — never from anything a
DPO typed. A system that has no lift operation, was restricted by hand, has no connector any
more, or fails after its retries is a person's task (`manual` / `failed` in the record, the
portal told `partly_lifted`), never a silent success.

Deterministic: it holds references and identifiers, decides, and leaves every I/O to
activities; it imports only `schemas` and `policy`.
"""

# No `from __future__ import annotations`: see workflows/dsr.py.
import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from policy.deadlines import local_date
    from schemas.connectors import ConnectorInfo, Operation
    from schemas.lift import (
        LiftRecordAppend,
        LiftRestrictionInput,
        RestrictedSystem,
        RestrictionToLift,
    )
    from schemas.records import AuditAction, RequestSummary, RestrictionLiftRecord, SystemLift
    from schemas.results import RestrictResult
    from schemas.status import (
        DecisionEntry,
        DecisionKind,
        RestrictionNotice,
        RestrictionState,
        SystemOutcome,
    )
    from schemas.workflow import ConnectorCall, StatusUpdate, WorkflowTuning
    from workflows.contracts import ConnectorOps, OrchestratorOps

__all__ = ["PERMANENT_ERROR_TYPES", "LiftOps", "LiftRestrictionWorkflow"]

# Connector errors that retrying cannot fix (as in workflows/dsr.py).
PERMANENT_ERROR_TYPES = [
    "PermanentError",
    "ConfigurationError",
    "AuthenticationError",
    "AmbiguousSubject",
    "UnsupportedOperation",
]
_ORCHESTRATOR_TIMEOUT = timedelta(minutes=2)
_ORCHESTRATOR_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


class LiftOps:
    """The lift's own activities, on the orchestrator's queue (`workflows.lift_activities`)."""

    @activity.defn(name="orchestrator.restriction_to_lift")
    async def restriction_to_lift(self, request_id: str) -> RestrictionToLift:
        """The stored request and, per system it restricted, the identifiers used."""
        raise NotImplementedError

    @activity.defn(name="orchestrator.record_restriction_lift")
    async def record_restriction_lift(self, append: LiftRecordAppend) -> None:
        """The lift's record into the completion record, and its audit entry."""
        raise NotImplementedError


def _by_hand(system: str, why: str) -> SystemLift:
    return SystemLift(system=system, outcome=SystemOutcome.MANUAL, reason=f"manual: {why}")


def _error_kind(error: BaseException) -> str:
    """The failure's type only (an activity's message may quote what the system said)."""
    cause: BaseException | None = error
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    return type(cause).__name__


def final_state(systems: list[SystemLift]) -> RestrictionState:
    """`lifted` only when no system is left for a person."""
    if any(s.needs_person for s in systems):
        return RestrictionState.PARTLY_LIFTED
    return RestrictionState.LIFTED


@workflow.defn(name="LiftRestriction")
class LiftRestrictionWorkflow:
    def __init__(self) -> None:
        self._summary: RequestSummary | None = None
        self._published = 0

    @workflow.run
    async def run(self, params: LiftRestrictionInput) -> RestrictionLiftRecord:
        found = await workflow.execute_activity_method(
            LiftOps.restriction_to_lift,
            params.request_id,
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )
        self._summary = found.summary
        note = params.note.strip()
        names = [s.system for s in found.systems]
        # (1) Art. 18(3): the subject is told before anything is lifted.
        decision = DecisionEntry(
            decision=DecisionKind.LIFT_RESTRICTION,
            actor=params.actor,
            at=params.requested_at,
            reason=note or None,
        )
        announced_at = workflow.now()
        await self._publish(
            RestrictionState.LIFTING,
            note,
            decision=decision,
            action=AuditAction.DECISION,
            actor=params.actor,
            details={
                "decision": DecisionKind.LIFT_RESTRICTION.value,
                "note": note,
                "systems": names,
            },
        )
        # (2) each system, with the identifiers its restrict call used.
        connectors = await workflow.execute_activity_method(
            OrchestratorOps.list_connectors,
            names,
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )
        known = {c.name: c for c in connectors}
        lifted = list(
            await asyncio.gather(
                *(
                    self._lift_one(params, s, known.get(s.system), found.tuning)
                    for s in found.systems
                )
            )
        )
        # (3) the proof, then (4) the portal: `lifted` is never told before it is recorded.
        state = final_state(lifted)
        record = RestrictionLiftRecord(
            requested_by=params.actor,
            requested_at=params.requested_at,
            note=note,
            state=state,
            announced_at=announced_at,
            finished_at=workflow.now(),
            systems=lifted,
        )
        await workflow.execute_activity_method(
            LiftOps.record_restriction_lift,
            LiftRecordAppend(request_id=params.request_id, record=record),
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )
        await self._publish(
            state,
            note,
            details={
                "restriction": state.value,
                "lifted": sorted(s.system for s in lifted if not s.needs_person),
                "tasks": sorted(s.system for s in lifted if s.needs_person),
            },
        )
        return record

    async def _lift_one(
        self,
        params: LiftRestrictionInput,
        restricted: RestrictedSystem,
        info: ConnectorInfo | None,
        tuning: WorkflowTuning,
    ) -> SystemLift:
        name = restricted.system
        if restricted.subject is None:
            return _by_hand(name, restricted.by_hand or f"{name} was restricted by hand")
        if info is None:
            return _by_hand(name, f"{name} has no connector here any more: lift it by hand")
        if Operation.LIFT_RESTRICTION not in info.operations:
            return _by_hand(name, f"{name} has no lift_restriction operation: lift it by hand")
        try:
            result = await workflow.execute_activity_method(
                ConnectorOps.lift_restriction,
                ConnectorCall(
                    request_id=params.request_id,
                    subject=restricted.subject,
                    today=local_date(workflow.now()),
                ),
                task_queue=info.task_queue,
                start_to_close_timeout=tuning.activity_start_to_close,
                schedule_to_close_timeout=tuning.activity_schedule_to_close,
                heartbeat_timeout=tuning.activity_heartbeat,
                retry_policy=RetryPolicy(
                    initial_interval=tuning.retry_initial_interval,
                    maximum_interval=tuning.retry_maximum_interval,
                    non_retryable_error_types=PERMANENT_ERROR_TYPES,
                ),
            )
        except (ActivityError, ApplicationError) as error:
            return SystemLift(
                system=name,
                outcome=SystemOutcome.FAILED,
                reason=f"{_error_kind(error)}: lift it by hand",
            )
        if not isinstance(result, RestrictResult):  # the operation's contract says otherwise
            return SystemLift(
                system=name,
                outcome=SystemOutcome.FAILED,
                reason=f"lift_restriction returned {type(result).__name__}: lift it by hand",
            )
        counts = {k: v for k, v in result.restricted.items() if v}
        return SystemLift(
            system=name,
            outcome=SystemOutcome.DONE if counts else SystemOutcome.NOT_FOUND,
            counts=counts,
            notified=sorted({n.recipient for n in result.notified}),
        )

    async def _publish(
        self,
        state: RestrictionState,
        note: str,
        *,
        decision: DecisionEntry | None = None,
        action: AuditAction = AuditAction.STATUS_CHANGED,
        actor: str = "workflow",
        details: dict[str, object],
    ) -> None:
        """The request's stored state with the restriction's, its audit entry, and the portal
        told (the existing publish_status activity). The request's own status stays."""
        assert self._summary is not None
        now = workflow.now()
        decisions = self._summary.decisions + ([decision] if decision is not None else [])
        self._summary = self._summary.model_copy(
            update={
                "updated_at": now,
                "decisions": decisions,
                "restriction": RestrictionNotice(state=state, changed_at=now, reason=note or None),
            }
        )
        self._published += 1
        info = workflow.info()
        await workflow.execute_activity_method(
            OrchestratorOps.publish_status,
            StatusUpdate(
                summary=self._summary,
                action=action,
                actor=actor,
                details={"status": self._summary.status.value, **details},
                dedupe_key=f"{info.workflow_id}/{info.run_id}/{self._published}",
            ),
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )
