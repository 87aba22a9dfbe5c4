"""The lift workflow's activities (workflows/lift_restriction.py), on the orchestrator's queue.

`restriction_to_lift` reads what the restriction request did from its own Temporal history,
decrypted by the worker's payload codec: each `connector.restrict` call that completed, with
the identifiers it was made with (`ConnectorCall.subject`) and what it restricted. Why the
history and not the store: the store never holds identifiers (schemas/records.py), and the
history holds exactly the ones each system was restricted by — the portal's and those learned
in discovery — so the lift reaches the same records, and no DPO types an identifier. A system
the completion record shows done without such a call was restricted by hand (the DPO resolved
it): a person lifts it too.

It is read once, when the restriction request's completion record is stored and its workflow
still runs (`start_restriction_hold`, called by the worker's record store,
orchestrator/restriction_hold.py): the systems and their identifiers go into the input of the
lift's hold, which waits for the DPO's decision for as long as the restriction is in force.
`restriction_to_lift` reads the same for a request closed before holds existed, as long as
Temporal still keeps its history; a hold's lift asks only for the stored request
(`restricted_request`).

`record_restriction_lift` puts the lift's record into the completion record and appends one
audit entry with who decided, when, why and each system's result (no personal data; a system
left restricted under another restriction in force names that request's id).

Which systems another restriction of the same subject keeps restricted is answered on the
orchestrator's side (orchestrator/other_restrictions.py: it asks Temporal whether their holds
run, which this package may not import).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from schemas.events import RequestKind
from schemas.lift import (
    LiftRecordAppend,
    LiftRestrictionInput,
    RestrictedSystem,
    RestrictionToLift,
    lift_workflow_id,
)
from schemas.records import (
    AuditAction,
    AuditEvent,
    CompletionRecord,
    RequestSummary,
    RestrictionLiftRecord,
)
from schemas.results import RestrictResult
from schemas.status import RequestStatus, SystemOutcome
from schemas.subject import SubjectRef
from schemas.workflow import ConnectorCall, DsrWorkflowInput, WorkflowTuning, workflow_id_for
from workflows.lift_restriction import LiftOps, LiftRestrictionWorkflow

__all__ = [
    "LiftActivities",
    "LiftStore",
    "RememberSubjects",
    "RestrictCalls",
    "holds_restriction",
    "restrict_calls",
    "restricted_systems",
    "start_restriction_hold",
]

_RESTRICT = "connector.restrict"
# The payload codec's errors for a payload it cannot open (orchestrator.codec), by name: workflows
# never import orchestrator.
_UNREADABLE = frozenset({"PayloadKeyMissing", "PayloadShredded"})


class LiftStore(Protocol):
    async def get_request(self, request_id: str) -> RequestSummary | None: ...
    async def get_completion_record(self, request_id: str) -> CompletionRecord | None: ...
    async def record_restriction_lift(
        self, request_id: str, lift: RestrictionLiftRecord
    ) -> CompletionRecord | None: ...
    async def append_audit(self, event: AuditEvent) -> AuditEvent: ...


class RestrictCalls:
    """What a restriction request's history says: its tuning and, per system, the subject of
    its last completed restrict call and what that call restricted."""

    def __init__(self) -> None:
        self.tuning = WorkflowTuning()
        self.subject: SubjectRef | None = None  # the request's own (the portal's identifiers)
        self.systems: dict[str, tuple[SubjectRef, dict[str, int]]] = {}

    def __repr__(self) -> str:  # never the identifiers
        return f"RestrictCalls({sorted(self.systems)})"


def _unavailable(kind: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


async def restrict_calls(client: Client, request_id: str) -> RestrictCalls:
    """Read the request's history (see the module docstring). Non-retryable failures, by type:
    `RestrictionHistoryGone` (Temporal no longer has it: its retention passed) and
    `RestrictionHistoryUnreadable` (its data key was destroyed, or is not in this store)."""
    handle = client.get_workflow_handle(workflow_id_for(request_id))
    converter = client.data_converter
    calls: dict[int, ConnectorCall] = {}
    found = RestrictCalls()
    try:
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_execution_started_event_attributes"):
                started = event.workflow_execution_started_event_attributes
                [params] = await converter.decode(started.input.payloads, [DsrWorkflowInput])
                if isinstance(params, DsrWorkflowInput):
                    found.tuning = params.tuning
                    found.subject = SubjectRef.from_subject(params.request.subject)
            elif event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                if scheduled.activity_type.name == _RESTRICT:
                    [call] = await converter.decode(scheduled.input.payloads, [ConnectorCall])
                    calls[event.event_id] = call
            elif event.HasField("activity_task_completed_event_attributes"):
                completed = event.activity_task_completed_event_attributes
                call = calls.get(completed.scheduled_event_id)
                if call is None:
                    continue
                [result] = await converter.decode(completed.result.payloads, [RestrictResult])
                system = call.plan.system if call.plan is not None else result.system
                found.systems[system] = (call.subject, dict(result.restricted))
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise _unavailable(
                "RestrictionHistoryGone",
                f"Temporal no longer holds the history of request {request_id}",
            ) from None
        raise
    except ApplicationError:
        raise
    except Exception as error:
        if not _UNREADABLE & {c.__name__ for c in type(error).__mro__}:
            raise
        raise _unavailable(
            "RestrictionHistoryUnreadable",
            f"the history of request {request_id} cannot be decrypted (shredded?)",
        ) from None
    return found


def restricted_systems(history: RestrictCalls, record: CompletionRecord) -> list[RestrictedSystem]:
    """Each system the request restricted: by a restrict call (with its identifiers), or by
    hand (done in the completion record without such a call: a person lifts it too)."""
    systems = [
        RestrictedSystem(system=name, subject=subject, restricted=restricted)
        for name, (subject, restricted) in sorted(history.systems.items())
    ]
    systems += [
        RestrictedSystem(
            system=status.system,
            by_hand=(
                f"{status.system} was restricted by hand ({status.reason or 'resolved'}): "
                "lift it by hand"
            ),
        )
        for status in record.systems
        if status.outcome is SystemOutcome.DONE and status.system not in history.systems
    ]
    return systems


def holds_restriction(record: CompletionRecord) -> bool:
    """Whether a completion record gets a hold: a completed restriction request that restricted
    something. A denied or cancelled one gets none (a cancelled one that restricted some
    systems is still lifted the old way, from its history, while Temporal keeps it)."""
    return (
        record.kind is RequestKind.RESTRICTION
        and record.status is RequestStatus.COMPLETED
        and any(s.outcome is SystemOutcome.DONE for s in record.systems)
    )


RememberSubjects = Callable[[list[SubjectRef]], Awaitable[None]]


async def start_restriction_hold(
    client: Client,
    record: CompletionRecord,
    task_queue: str,
    *,
    remember_subjects: RememberSubjects | None = None,
) -> bool:
    """Start the lift's hold for a restriction request whose completion record was just stored
    (its workflow still running, so its history is readable); returns whether one was started
    or already runs. A second call (a retried activity) finds the running hold and starts
    nothing (USE_EXISTING); one after the hold ended (lifted) is refused by id and changes
    nothing.

    `remember_subjects` is given the request's subject and every restricted system's, before
    the hold starts (orchestrator/restriction_hold.py keeps their keyed hashes): so while the
    hold runs, another restriction of the same person finds it in force and does not lift a
    system it restricted too (`OtherRestrictions`, orchestrator/other_restrictions.py)."""
    if not holds_restriction(record):
        return False
    history = await restrict_calls(client, record.request_id)
    systems = restricted_systems(history, record)
    if remember_subjects is not None:
        subjects = [history.subject] if history.subject is not None else []
        subjects += [s.subject for s in systems if s.subject is not None]
        await remember_subjects(subjects)
    try:
        await client.start_workflow(
            LiftRestrictionWorkflow.run,
            LiftRestrictionInput(
                request_id=record.request_id,
                systems=systems,
                tuning=history.tuning,
            ),
            id=lift_workflow_id(record.request_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return True  # it ran already: the restriction was lifted (a very late retry)
    return True


class LiftActivities(LiftOps):
    """The store and Temporal, for the lift workflow."""

    def __init__(self, store: LiftStore) -> None:
        self._store = store

    async def _closed_restriction(self, request_id: str) -> tuple[RequestSummary, CompletionRecord]:
        summary = await self._store.get_request(request_id)
        record = await self._store.get_completion_record(request_id)
        if summary is None or record is None:
            raise _unavailable("RequestNotClosed", f"request {request_id} has no completion record")
        if record.kind is not RequestKind.RESTRICTION:
            raise _unavailable("NotARestriction", f"request {request_id} is a {record.kind.value}")
        return summary, record

    @activity.defn(name="orchestrator.restriction_to_lift")
    async def restriction_to_lift(self, request_id: str) -> RestrictionToLift:
        summary, record = await self._closed_restriction(request_id)
        history = await restrict_calls(activity.client(), request_id)
        return RestrictionToLift(
            summary=summary, systems=restricted_systems(history, record), tuning=history.tuning
        )

    @activity.defn(name="orchestrator.restricted_request")
    async def restricted_request(self, request_id: str) -> RequestSummary:
        summary, _ = await self._closed_restriction(request_id)
        return summary

    @activity.defn(name="orchestrator.record_restriction_lift")
    async def record_restriction_lift(self, append: LiftRecordAppend) -> None:
        lift = append.record
        await self._store.record_restriction_lift(append.request_id, lift)
        await self._store.append_audit(
            AuditEvent(
                request_id=append.request_id,
                action=AuditAction.RESTRICTION_LIFTED,
                actor="workflow",
                at=lift.finished_at,
                details={
                    "requested_by": lift.requested_by,
                    "requested_at": lift.requested_at.isoformat(),
                    "note": lift.note,
                    "state": lift.state.value,
                    "announced_at": lift.announced_at.isoformat(),
                    "systems": {
                        s.system: {
                            "outcome": s.outcome.value,
                            "counts": s.counts,
                            **({"reason": s.reason} if s.reason else {}),
                            **({"notified": s.notified} if s.notified else {}),
                            **({"kept_under": s.kept_under} if s.kept_under else {}),
                        }
                        for s in lift.systems
                    },
                },
                dedupe_key=f"{append.request_id}/restriction-lift/{lift.finished_at.isoformat()}",
            )
        )
