"""Lifting a restriction (Art. 18) in the DPO front door: the one place the CLI (`dsr
lift-restriction`), the HTTP API (`POST /api/requests/{id}/lift_restriction`) and the
dashboard's button take this decision (through `_decide.decide`, or `lift_restriction`).

Why it is not an Update like the other decisions: a restriction is lifted after its request
closed (when the accuracy it was restricted for is verified, Art. 18(1)(a)), and a closed
workflow takes none. So the front door checks the request itself, in Temporal — the request's
workflow finished with a completion record, it is a restriction, something was restricted —
and starts `LiftRestriction` (workflows/lift_restriction.py) under `dsr-<id>.lift-restriction`,
on the queue the request ran on. The id is the guard against a second lift: Temporal refuses a
second start while that workflow's history is kept (and a restriction request's own history,
which a lift reads its identifiers from, is gone before it). Only a lift that failed outright
may be started again.

Every refusal is a `DecisionRejected` (409 on the API, exit 1 on the CLI) whose message says
why, without personal data. The decision itself — who, when, the note — is in the audit trail
and the request's decisions from the lift's first step, before any system is touched.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.codec import PayloadKeyMissing
from orchestrator.dpo._decide import (
    _UNAVAILABLE,
    DecisionRejected,
    DecisionUnavailable,
    RequestNotRunning,
    published_text,
)
from schemas.events import RequestKind, is_valid_request_id
from schemas.lift import LiftRestriction, LiftRestrictionInput, lift_workflow_id
from schemas.records import CompletionRecord
from schemas.status import DecisionKind, RestrictionState, SystemOutcome
from schemas.workflow import DecisionReceipt, workflow_id_for
from workflows.lift_restriction import LiftRestrictionWorkflow

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
    """A lift of this request was already started (it may still be running)."""


class RestrictionUnavailable(RestrictionNotLiftable):
    """Temporal no longer holds the request's history, it cannot be decrypted (shredded), or
    its workflow ended without a completion record: the identifiers a lift needs are gone."""


async def lift_restriction(
    client: Client, request_id: str, *, actor: str, note: str
) -> DecisionReceipt:
    """The CLI's entry point: `send_lift` with the decision built from its fields."""
    return await send_lift(client, request_id, LiftRestriction(actor=actor, note=note))


async def send_lift(client: Client, request_id: str, decision: LiftRestriction) -> DecisionReceipt:
    """Check the request and start its lift (see the module docstring)."""
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
    record, task_queue = await _closed_restriction(client, request_id)
    try:
        await client.start_workflow(
            LiftRestrictionWorkflow.run,
            LiftRestrictionInput(
                request_id=request_id,
                actor=decision.actor.strip(),
                note=decision.note.strip(),
                requested_at=datetime.now(UTC),
            ),
            id=lift_workflow_id(request_id),
            task_queue=task_queue,
            # A lift that failed outright (its request's history unreadable) may be tried again;
            # one that ran — even leaving systems to a person — is never run twice.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        raise RestrictionAlreadyLifted(
            f"the restriction of request {request_id} was already lifted, or is being lifted: "
            "see its status (a second lift is refused)"
        ) from None
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
    if error.status in _UNAVAILABLE:
        return DecisionUnavailable(
            f"Temporal is not available ({error.status.name}): the restriction was not lifted; "
            "look at the request before repeating it"
        )
    return error
