"""Lifting a restriction (Art. 18) in the DPO front door: the one place the CLI (`dsr
lift-restriction`), the HTTP API (`POST /api/requests/{id}/lift_restriction`) and the
dashboard's button take this decision (through `_decide.decide`, or `lift_restriction`).

Why it is not an Update of the request's workflow like the other decisions: a restriction is
lifted after its request closed (when the accuracy it was restricted for is verified, Art.
18(1)(a)), and a closed workflow takes none. The lift is a workflow of its own,
`LiftRestriction` under `dsr-<id>.lift-restriction` (workflows/lift_restriction.py):

- a completed restriction request that restricted something has it running as a *hold* from
  its close on (orchestrator/restriction_hold.py), carrying the identifiers each system was
  restricted by and waiting for this decision for as long as the restriction is in force: the
  decision is its `lift` Update, whose validator refuses a second one. This works months
  later, after Temporal dropped the request's own history and its readable-after-close period
  ended;
- a request with no hold (restricted before holds existed, or cancelled after restricting some
  systems) is checked in Temporal — its workflow finished with a completion record, it is a
  restriction, something was restricted — and the lift started with the decision in its input,
  on the queue the request ran on; it reads the identifiers from the request's history, which
  must still exist.

Either way the id is the guard against a second lift: a hold takes one decision, and Temporal
refuses a second start while the lift's history is kept. Only a lift that ended without
completing (failed, terminated) may be started again, from the request's history.

Every refusal is a `DecisionRejected` (409 on the API, exit 1 on the CLI) whose message says
why, without personal data. The decision itself — who, when, the note — is in the audit trail
and the request's decisions from the lift's first step, before any system is touched.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.codec import PayloadKeyMissing
from orchestrator.dpo._common import (
    DECISION_TIMEOUT,
    UNAVAILABLE_RPC,
    DecisionRejected,
    DecisionUnavailable,
    RequestNotRunning,
    published_text,
    send_update,
    update_failure,
)
from schemas.events import RequestKind, is_valid_request_id
from schemas.lift import LiftDecision, LiftRestriction, LiftRestrictionInput, lift_workflow_id
from schemas.records import CompletionRecord
from schemas.status import DecisionKind, RestrictionState, SystemOutcome
from schemas.workflow import DecisionReceipt, workflow_id_for
from workflows.lift_restriction import LIFT_UPDATE, LiftRestrictionWorkflow, already_lifted

__all__ = [
    "NotARestriction",
    "NothingRestricted",
    "RestrictionAlreadyLifted",
    "RestrictionNotFinished",
    "RestrictionNotLiftable",
    "RestrictionUnavailable",
    "lift_restriction",
    "send_lift",
]

_BY_HAND = "lift it by hand in each system the completion record names"


class RestrictionNotLiftable(DecisionRejected):
    """The restriction cannot be lifted through the system now; the message says why."""


class NotARestriction(RestrictionNotLiftable):
    """The request is not a restriction request."""


class RestrictionNotFinished(RestrictionNotLiftable):
    """The restriction request's workflow is still running."""


class NothingRestricted(RestrictionNotLiftable):
    """No system of the request was restricted (denied, cancelled first, or nothing found)."""


class RestrictionAlreadyLifted(RestrictionNotLiftable):
    """A lift of this request was already decided or started (it may still be running)."""


class RestrictionUnavailable(RestrictionNotLiftable):
    """Temporal no longer holds the request's history, it cannot be decrypted (shredded), or
    its workflow ended without a completion record: the identifiers a lift needs are gone."""


async def lift_restriction(
    client: Client, request_id: str, *, actor: str, note: str
) -> DecisionReceipt:
    """The CLI's entry point: `send_lift` with the decision built from its fields."""
    return await send_lift(client, request_id, LiftRestriction(actor=actor, note=note))


async def send_lift(client: Client, request_id: str, decision: LiftRestriction) -> DecisionReceipt:
    """The decision to the request's hold, or, with none, the lift started (see the module
    docstring)."""
    published_text(decision)  # the note is told to the subject verbatim
    if not decision.actor.strip():
        raise DecisionRejected("a decision needs an actor")
    if not decision.note.strip():
        raise DecisionRejected(
            "lifting a restriction needs a note saying why (e.g. 'accuracy verified', "
            "Art. 18(1)(a)): it is told to the subject"
        )
    if not is_valid_request_id(request_id):
        raise RequestNotRunning(f"no request has the id {request_id[:80]!r}")
    decision = LiftRestriction(actor=decision.actor.strip(), note=decision.note.strip())
    lift = await _lift_status(client, request_id)
    if lift is WorkflowExecutionStatus.RUNNING:
        return await _to_hold(client, request_id, decision)
    if lift is WorkflowExecutionStatus.COMPLETED:
        raise RestrictionAlreadyLifted(already_lifted(request_id))
    # No hold, or one that ended without lifting (failed, terminated): from the history.
    return await _start_lift(client, request_id, decision)


async def _lift_status(client: Client, request_id: str) -> WorkflowExecutionStatus | None:
    """The status of the request's lift workflow (its hold, or a lift), None if it has none."""
    try:
        described = await client.get_workflow_handle(lift_workflow_id(request_id)).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise _rpc_failure(error) from None
    return described.status


async def _to_hold(client: Client, request_id: str, decision: LiftRestriction) -> DecisionReceipt:
    """The decision as the hold's `lift` Update; it answers once the subject has been told."""
    handle = client.get_workflow_handle(lift_workflow_id(request_id))
    try:
        return await send_update(
            handle,
            LIFT_UPDATE,
            decision,
            unanswered=(
                "the restriction's hold did not answer within "
                f"{DECISION_TIMEOUT.total_seconds():g} s (is the orchestrator's worker running?); "
                "the lift may still start when it does: look at the request before repeating it"
            ),
        )
    except PayloadKeyMissing:
        raise RestrictionUnavailable(
            f"request {request_id} is crypto-shredded: {_BY_HAND}"
        ) from None
    except WorkflowUpdateFailedError as error:
        message = update_failure(error)
        if "already lifted" in message:
            raise RestrictionAlreadyLifted(message) from None
        raise DecisionRejected(message) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND or "completed" in error.message:
            # The hold ended between the look and the Update: lifted meanwhile.
            raise RestrictionAlreadyLifted(already_lifted(request_id)) from None
        raise _rpc_failure(error) from None


async def _start_lift(
    client: Client, request_id: str, decision: LiftRestriction
) -> DecisionReceipt:
    """A request without a hold: checked in Temporal, and its lift started with the decision."""
    record, task_queue = await _closed_restriction(client, request_id)
    try:
        await client.start_workflow(
            LiftRestrictionWorkflow.run,
            LiftRestrictionInput(
                request_id=request_id,
                decision=LiftDecision(
                    actor=decision.actor,
                    note=decision.note,
                    requested_at=datetime.now(UTC),
                ),
            ),
            id=lift_workflow_id(request_id),
            task_queue=task_queue,
            # A lift that failed outright (its request's history unreadable) may be tried again;
            # one that ran — even leaving systems to a person — is never run twice.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        raise RestrictionAlreadyLifted(already_lifted(request_id)) from None
    except PayloadKeyMissing:
        raise RestrictionUnavailable(
            f"request {request_id} is crypto-shredded: {_BY_HAND}"
        ) from None
    except RPCError as error:
        raise _rpc_failure(error) from None
    return DecisionReceipt(
        request_id=request_id,
        decision=DecisionKind.LIFT_RESTRICTION.value,
        status=record.status,
        due_date=record.due_date,
        due_at=record.due_at,
        restriction=RestrictionState.LIFTING,
    )


async def _closed_restriction(client: Client, request_id: str) -> tuple[CompletionRecord, str]:
    """The request's completion record, as its finished workflow returned it, and the task
    queue it ran on; else the refusal that says why not."""
    handle = client.get_workflow_handle(workflow_id_for(request_id), result_type=CompletionRecord)
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise RestrictionUnavailable(
                f"Temporal holds no workflow for request {request_id}: unknown, or its history "
                f"is gone (retention), and with it the identifiers to lift by; {_BY_HAND}"
            ) from None
        raise _rpc_failure(error) from None
    if described.status is WorkflowExecutionStatus.RUNNING:
        raise RestrictionNotFinished(
            f"request {request_id} is still running: a restriction is lifted once its request "
            "has finished"
        )
    if described.status is not WorkflowExecutionStatus.COMPLETED:
        ended = described.status.name.lower() if described.status else "unknown"
        raise RestrictionUnavailable(
            f"the workflow of request {request_id} ended {ended}, without a completion "
            f"record; {_BY_HAND}"
        )
    try:
        record = await handle.result()
    except PayloadKeyMissing:
        raise RestrictionUnavailable(
            f"request {request_id} is crypto-shredded: {_BY_HAND}"
        ) from None
    except RPCError as error:
        raise _rpc_failure(error) from None
    if record.kind is not RequestKind.RESTRICTION:
        raise NotARestriction(
            f"request {request_id} is a {record.kind.value} request: only a restriction "
            "request's restriction can be lifted"
        )
    if not any(s.outcome is SystemOutcome.DONE for s in record.systems):
        raise NothingRestricted(
            f"request {request_id} restricted nothing ({record.status.value}, no system "
            "done): there is no restriction to lift"
        )
    return record, described.task_queue or ""


def _rpc_failure(error: RPCError) -> Exception:
    if error.status in UNAVAILABLE_RPC:
        return DecisionUnavailable(
            f"Temporal is not available ({error.status.name}): the restriction was not lifted; "
            "look at the request before repeating it"
        )
    return error
