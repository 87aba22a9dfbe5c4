"""LiftRestriction: a restriction request's restriction of processing (Art. 18), held until a DPO
decides to lift it, then lifted.

    [hold: wait for the DPO's decision] → tell the portal "lifting" → other restrictions in
    force? → lift each (not those) → record → tell

Why a workflow of its own, not an Update of the request's: the restriction is lifted after the
request closed — when the accuracy it was restricted for has been verified (Art. 18(1)(a)),
weeks or months later — and a closed workflow takes no Updates. Its id,
`dsr-<id>.lift-restriction` (`schemas.lift.lift_workflow_id`), makes a second start a no-op and
keeps its payloads under the request's data key.

Why a hold: the identifiers each system was restricted by are in the restriction request's own
history, which Temporal drops after the namespace's retention and the shredding sweep makes
unreadable after the readable-after-close period. So the worker starts this workflow when the
request's completion record is stored — its workflow still running, its history readable —
with each restricted system and its identifiers in the (sealed) input
(orchestrator/restriction_hold.py), and it waits, durably and without a timeout, for the
DPO's decision: the `lift` Update (orchestrator/dpo/_lift.py sends it). While it waits it is a
workflow with no timer and no activity: it costs Temporal one open execution, and the sweep
keeps the request's data key for it (orchestrator/shredder.py). A restriction request closed
before holds existed is started with the decision in its input and reads its systems from the
request's history, as long as that history exists.

Why in this order: Art. 18(3) requires the subject to be informed before the restriction is
lifted, so `lifting` is stored and published (with the DPO's decision in the audit trail)
before any system is touched; the Update answers once that is done. Each system is lifted with
the identifiers its own restrict call used — never from anything a DPO typed. A system that has
no lift operation, was restricted by hand, has no connector any more, or fails after its
retries is a person's task (`manual` / `failed` in the record, the portal told
`partly_lifted`), never a silent success; so is one whose lift finds nothing although its
restrict call restricted records (`RestrictedSystem.restricted`): the identifiers may no longer
match, and the restriction may still be in force. `not_found` is only a system whose restrict
call restricted nothing either.

Why a system may stay restricted: the systems keep one restriction flag per record, so two
restriction requests of the same person (one pending an accuracy check, one an objection)
share it. A system that another restriction request of the same subject still in force (its
hold waiting) restricted too is left restricted, `retained` in the record naming that request
(`orchestrator.other_restrictions_in_force`); that request's own lift lifts it. The portal is
told `lifted` then: this request's restriction is lifted; the other's is told by its own.

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
        LiftDecision,
        LiftRecordAppend,
        LiftRestriction,
        LiftRestrictionInput,
        OtherRestrictions,
        RestrictedSystem,
        RestrictionCheck,
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
    from schemas.workflow import ConnectorCall, DecisionReceipt, StatusUpdate, WorkflowTuning
    from workflows.contracts import ConnectorOps, OrchestratorOps

__all__ = [
    "LIFT_UPDATE",
    "PERMANENT_ERROR_TYPES",
    "LiftOps",
    "LiftRestrictionWorkflow",
    "already_lifted",
]

# Connector errors that retrying cannot fix (as in workflows/dsr.py).
PERMANENT_ERROR_TYPES = [
    "PermanentError",
    "ConfigurationError",
    "AuthenticationError",
    "AmbiguousSubject",
    "UnsupportedOperation",
]
LIFT_UPDATE = "lift"  # the hold's Update: the DPO's decision (orchestrator/dpo/_lift.py)
_ORCHESTRATOR_TIMEOUT = timedelta(minutes=2)
_ORCHESTRATOR_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


class LiftOps:
    """The lift's own activities, on the orchestrator's queue (`workflows.lift_activities`)."""

    @activity.defn(name="orchestrator.restriction_to_lift")
    async def restriction_to_lift(self, request_id: str) -> RestrictionToLift:
        """The stored request and, per system it restricted, the identifiers used (read from
        the request's history: a lift started without a hold)."""
        raise NotImplementedError

    @activity.defn(name="orchestrator.restricted_request")
    async def restricted_request(self, request_id: str) -> RequestSummary:
        """The stored request, checked to be a closed restriction (a hold's lift: its systems
        came with its input)."""
        raise NotImplementedError

    @activity.defn(name="orchestrator.other_restrictions_in_force")
    async def other_restrictions_in_force(self, check: RestrictionCheck) -> OtherRestrictions:
        """Per system, another restriction request of the same subject still in force that
        restricted it too (orchestrator/other_restrictions.py): left restricted for it."""
        raise NotImplementedError

    @activity.defn(name="orchestrator.record_restriction_lift")
    async def record_restriction_lift(self, append: LiftRecordAppend) -> None:
        """The lift's record into the completion record, and its audit entry."""
        raise NotImplementedError


def _by_hand(system: str, why: str) -> SystemLift:
    return SystemLift(system=system, outcome=SystemOutcome.MANUAL, reason=f"manual: {why}")


def _counted(counts: dict[str, int]) -> str:
    """`1 contacts, 2 account`: categories and counts, never a record."""
    return ", ".join(f"{n} {category}" for category, n in sorted(counts.items()) if n)


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


def already_lifted(request_id: str) -> str:
    """The refusal of a second decision (the front door says the same once the lift ended)."""
    return (
        f"the restriction of request {request_id} was already lifted, or is being lifted: "
        "see its status (a second lift is refused)"
    )


@workflow.defn(name="LiftRestriction")
class LiftRestrictionWorkflow:
    @workflow.init
    def __init__(self, params: LiftRestrictionInput) -> None:
        # From the input (workflow.init): a decision arriving in the first task is checked
        # against it, whichever the SDK runs first.
        self._request_id = params.request_id
        self._decision: LiftDecision | None = params.decision
        self._receipt: DecisionReceipt | None = None
        self._summary: RequestSummary | None = None
        self._published = 0

    @workflow.run
    async def run(self, params: LiftRestrictionInput) -> RestrictionLiftRecord:
        # (0) A hold waits for the DPO's decision, as long as the restriction is in force.
        await workflow.wait_condition(lambda: self._decision is not None)
        decision = self._decision
        assert decision is not None
        if params.systems is None:  # no hold: the request's own history, while it exists
            found = await workflow.execute_activity_method(
                LiftOps.restriction_to_lift,
                params.request_id,
                start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
                retry_policy=_ORCHESTRATOR_RETRY,
            )
            self._summary, systems, tuning = found.summary, found.systems, found.tuning
        else:
            self._summary = await workflow.execute_activity_method(
                LiftOps.restricted_request,
                params.request_id,
                start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
                retry_policy=_ORCHESTRATOR_RETRY,
            )
            systems, tuning = params.systems, params.tuning
        note = decision.note.strip()
        names = [s.system for s in systems]
        # (1) Art. 18(3): the subject is told before anything is lifted.
        announced_at = workflow.now()
        await self._publish(
            RestrictionState.LIFTING,
            note,
            decision=DecisionEntry(
                decision=DecisionKind.LIFT_RESTRICTION,
                actor=decision.actor,
                at=decision.requested_at,
                reason=note or None,
            ),
            action=AuditAction.DECISION,
            actor=decision.actor,
            details={
                "decision": DecisionKind.LIFT_RESTRICTION.value,
                "note": note,
                "systems": names,
            },
        )
        summary = self._summary
        assert summary is not None
        self._receipt = DecisionReceipt(
            request_id=params.request_id,
            decision=DecisionKind.LIFT_RESTRICTION.value,
            status=summary.status,
            due_date=summary.due_date,
            due_at=summary.due_at,
            restriction=RestrictionState.LIFTING,
        )
        # (2) each system, with the identifiers its restrict call used — except one that
        # another restriction of the same subject, still in force, restricted too: its one
        # flag is that restriction's as well, so it stays, under that request. Asked after
        # `lifting` is stored, so of two lifts decided together at least one sees the other
        # decided (not in force) and lifts.
        others = await workflow.execute_activity_method(
            LiftOps.other_restrictions_in_force,
            RestrictionCheck(
                request_id=params.request_id,
                subjects=[s.subject for s in systems if s.subject is not None],
            ),
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )
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
                    self._lift_one(
                        params.request_id,
                        s,
                        known.get(s.system),
                        tuning,
                        others.by_system.get(s.system),
                    )
                    for s in systems
                )
            )
        )
        # (3) the proof, then (4) the portal: `lifted` is never told before it is recorded.
        state = final_state(lifted)
        record = RestrictionLiftRecord(
            requested_by=decision.actor,
            requested_at=decision.requested_at,
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
                "lifted": sorted(
                    s.system for s in lifted if not s.needs_person and s.kept_under is None
                ),
                "tasks": sorted(s.system for s in lifted if s.needs_person),
                "kept_under": {s.system: s.kept_under for s in lifted if s.kept_under},
            },
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return record

    @workflow.update(name=LIFT_UPDATE)
    async def lift(self, decision: LiftRestriction) -> DecisionReceipt:
        """The DPO's decision to lift (the front door checked its note for personal data).
        Answers once the subject has been told (`lifting` stored and published)."""
        self._decision = LiftDecision(
            actor=decision.actor.strip(),
            note=decision.note.strip(),
            requested_at=workflow.now(),
        )
        await workflow.wait_condition(lambda: self._receipt is not None)
        assert self._receipt is not None
        return self._receipt

    @lift.validator
    def _check_lift(self, decision: LiftRestriction) -> None:
        """Refused (nothing changes): a second decision, no actor, no note saying why."""
        if self._decision is not None:
            raise ValueError(already_lifted(self._request_id))
        if not decision.actor.strip():
            raise ValueError("a decision needs an actor")
        if not decision.note.strip():
            raise ValueError(
                "lifting a restriction needs a note saying why (e.g. 'accuracy verified', "
                "Art. 18(1)(a)): it is told to the subject"
            )

    async def _lift_one(
        self,
        request_id: str,
        restricted: RestrictedSystem,
        info: ConnectorInfo | None,
        tuning: WorkflowTuning,
        kept_under: str | None,
    ) -> SystemLift:
        name = restricted.system
        if kept_under is not None:
            return SystemLift(
                system=name,
                outcome=SystemOutcome.RETAINED,
                reason=(
                    f"still restricted under request {kept_under}, in force: "
                    "lifted with that request's lift"
                ),
                kept_under=kept_under,
            )
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
                    request_id=request_id,
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
        notified = sorted({n.recipient for n in result.notified})
        if not counts and any(restricted.restricted.values()):
            # Restricted then, nothing to lift now: the identifiers may no longer match (a
            # rectification since) or the mark was cleared elsewhere — it may still be in force.
            return SystemLift(
                system=name,
                outcome=SystemOutcome.MANUAL,
                reason=(
                    f"manual: restricted {_counted(restricted.restricted)} at the time; "
                    "the lift found none: check by hand"
                ),
                notified=notified,
            )
        return SystemLift(
            system=name,
            outcome=SystemOutcome.DONE if counts else SystemOutcome.NOT_FOUND,
            counts=counts,
            notified=notified,
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
