"""The decision side of the DPO front door: every decision is a Temporal Update of the request's
workflow (DsrWorkflowV2), whose validator is the arbiter. The CLI, the HTTP API and the dashboard
call these and only display the outcome.

- accepted: a `DecisionReceipt` (the request's status and due date after it);
- `pydantic.ValidationError`: the document is not a decision of that kind at all, or it is one
  the front door refuses to send (an extension reason holding personal data, or too long: the
  reason is published verbatim to the subject's portal on `dsr.status.v1`);
- `DecisionRejected`: the workflow refused it (the reason says why; nothing changed);
- `RequestNotRunning`: no running workflow for the request (unknown, or already finished), or
  an id no request can have (`schemas.events.is_valid_request_id`; Temporal is not asked);
- `DecisionUnavailable`: Temporal could not be reached, or the workflow did not answer within
  `DECISION_TIMEOUT` (no worker polling): the caller may try again later.

Two decisions are not Updates of the request's workflow, as they come after the request closed:
`lift_restriction` goes to the restriction's hold, a workflow of its own
(orchestrator/dpo/_lift.py), and `retry_deferred_erasure` to the request's deferred-erasure
chain (orchestrator/dpo/_deferred.py); `decide` hands them there, with the same errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, StrictInt
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.codec import PayloadKeyMissing
from orchestrator.dpo._common import (
    DECISION_TIMEOUT,
    EXTENSION_REASON_MAX,
    UNAVAILABLE_RPC,
    DecisionError,
    DecisionRejected,
    DecisionUnavailable,
    RequestNotRunning,
    published_text,
    send_update,
    update_failure,
)
from orchestrator.dpo._deferred import send_deferred_retry
from schemas.events import is_valid_request_id
from schemas.identifiers import IdentifierType
from schemas.lift import LiftRestriction
from schemas.records import CompletionRecord
from schemas.status import DecisionKind, DenialCode, SystemOutcome
from schemas.subject import Identifier
from schemas.workflow import (
    Approve,
    Cancel,
    DecisionReceipt,
    Deny,
    Extend,
    IdentityConfirmation,
    NarrowSubject,
    ResolveSystem,
    RetryDeferredErasure,
    RetrySystem,
    SkipSystem,
    workflow_id_for,
)
from workflows.dsr import DsrWorkflow

__all__ = [
    "DECISION_MODELS",
    "DECISION_TIMEOUT",
    "EXTENSION_REASON_MAX",
    "DecisionError",
    "DecisionRejected",
    "DecisionUnavailable",
    "RequestNotRunning",
    "approve",
    "cancel",
    "confirm_identity",
    "decide",
    "decision_client",
    "deny",
    "extend",
    "narrow_subject",
    "published_reason",
    "published_text",
    "resolve_system",
    "retry_system",
    "skip_system",
]


class _ClientSource(Protocol):
    async def client(self) -> Any: ...


async def decision_client(source: _ClientSource | None) -> Client:
    """The Temporal client decisions are sent with (`Desk.live_status`), or
    `DecisionUnavailable`: not configured, or the connection cannot be made now."""
    if source is None:
        raise DecisionUnavailable("Temporal is not configured: no decision can be taken")
    try:
        client: Client = await source.client()
    except (RuntimeError, OSError, TimeoutError) as error:  # the SDK's failed connect
        raise DecisionUnavailable(
            f"Temporal is not reachable ({type(error).__name__}): nothing was decided"
        ) from None
    return client


# Each decision: the model its document must validate as, and the Update that takes it.
DECISION_MODELS: dict[DecisionKind, type[BaseModel]] = {
    DecisionKind.CONFIRM_IDENTITY: IdentityConfirmation,
    DecisionKind.APPROVE: Approve,
    DecisionKind.DENY: Deny,
    DecisionKind.EXTEND: Extend,
    DecisionKind.CANCEL: Cancel,
    DecisionKind.RESOLVE_SYSTEM: ResolveSystem,
    DecisionKind.RETRY_SYSTEM: RetrySystem,
    DecisionKind.SKIP_SYSTEM: SkipSystem,
    DecisionKind.NARROW_SUBJECT: NarrowSubject,
    DecisionKind.LIFT_RESTRICTION: LiftRestriction,
    DecisionKind.RETRY_DEFERRED_ERASURE: RetryDeferredErasure,
}
_UPDATES: dict[DecisionKind, Any] = {
    DecisionKind.CONFIRM_IDENTITY: DsrWorkflow.confirm_identity,
    DecisionKind.APPROVE: DsrWorkflow.approve,
    DecisionKind.DENY: DsrWorkflow.deny,
    DecisionKind.EXTEND: DsrWorkflow.extend,
    DecisionKind.CANCEL: DsrWorkflow.cancel,
    DecisionKind.RESOLVE_SYSTEM: DsrWorkflow.resolve_system,
    DecisionKind.RETRY_SYSTEM: DsrWorkflow.retry_system,
    DecisionKind.SKIP_SYSTEM: DsrWorkflow.skip_system,
    DecisionKind.NARROW_SUBJECT: DsrWorkflow.narrow_subject,
}


def published_reason(extension: Extend) -> Extend:
    """An extension whose reason may be published (see `published_text`)."""
    published_text(extension)
    return extension


class _StrictExtend(BaseModel):
    """The extension's months as a whole number, strictly: the model's lax `int` would take
    `true` as 1 month and `"2"` as 2 from a JSON body (a form's text is converted by the form,
    from ASCII digits only)."""

    model_config = ConfigDict(extra="ignore")

    months: StrictInt


_STRICT_FIELDS: dict[DecisionKind, type[BaseModel]] = {DecisionKind.EXTEND: _StrictExtend}


def validate_decision(decision: DecisionKind, document: Mapping[str, Any]) -> BaseModel:
    """`document` as the decision's model, its free text checked for publication, else
    `pydantic.ValidationError` (no Update is sent)."""
    strict = _STRICT_FIELDS.get(decision)
    if strict is not None:
        strict.model_validate(dict(document))
    return published_text(DECISION_MODELS[decision].model_validate(dict(document)))


async def decide(
    client: Client, request_id: str, decision: DecisionKind, document: Mapping[str, Any]
) -> DecisionReceipt:
    """Validate `document` as the decision's model and send it as that Update (a lift of a
    restriction: start its workflow, orchestrator/dpo/_lift.py; a deferred erasure's retry: to
    its chain, orchestrator/dpo/_deferred.py)."""
    arg = validate_decision(decision, document)
    if decision is DecisionKind.LIFT_RESTRICTION:
        # Imported here: _lift builds on this module's errors and text checks.
        from orchestrator.dpo._lift import send_lift

        assert isinstance(arg, LiftRestriction)
        return await send_lift(client, request_id, arg)
    if decision is DecisionKind.RETRY_DEFERRED_ERASURE:
        assert isinstance(arg, RetryDeferredErasure)
        return await send_deferred_retry(client, request_id, arg)
    return await _send(client, request_id, decision, arg)


async def _send(
    client: Client, request_id: str, decision: DecisionKind, arg: BaseModel
) -> DecisionReceipt:
    published_text(arg)  # every decision's free text, whichever door it came through
    if not is_valid_request_id(request_id):
        raise RequestNotRunning(f"no request has the id {request_id[:80]!r}")
    handle: WorkflowHandle[DsrWorkflow, CompletionRecord] = client.get_workflow_handle(
        workflow_id_for(request_id), result_type=CompletionRecord
    )
    try:
        return await send_update(
            handle,
            _UPDATES[decision],
            arg,
            unanswered=(
                "the request's workflow did not answer within "
                f"{DECISION_TIMEOUT.total_seconds():g} s (is its worker running?); the decision "
                "may still be taken when it does: look at the request before repeating it"
            ),
        )
    except PayloadKeyMissing:
        # The decision is sealed with the request's data key, made when its workflow started
        # (or destroyed when it was shredded): without one there is no workflow to take it.
        raise RequestNotRunning(
            f"request {request_id!r} is not running (unknown, or already finished)"
        ) from None
    except WorkflowUpdateFailedError as error:
        message = update_failure(error)
        if "not found" in message and "handler" in message.lower():
            message = f"this request's workflow takes no {decision.value} decisions"
        raise DecisionRejected(message) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND or "completed" in error.message:
            raise RequestNotRunning(
                f"request {request_id!r} is not running (unknown, or already finished)"
            ) from None
        if error.status in UNAVAILABLE_RPC:
            raise DecisionUnavailable(
                f"Temporal is not available ({error.status.name}): the decision was not "
                "confirmed; look at the request before repeating it"
            ) from None
        raise


# ── typed entry points (the CLI's) ─────────────────────────────────────────────────────────
async def confirm_identity(
    client: Client, request_id: str, *, actor: str, method: str = "manual_check"
) -> DecisionReceipt:
    return await _send(
        client,
        request_id,
        DecisionKind.CONFIRM_IDENTITY,
        IdentityConfirmation(actor=actor, method=method),
    )


async def approve(
    client: Client, request_id: str, *, actor: str, note: str = ""
) -> DecisionReceipt:
    return await _send(client, request_id, DecisionKind.APPROVE, Approve(actor=actor, note=note))


async def deny(
    client: Client,
    request_id: str,
    *,
    actor: str,
    reason_code: DenialCode | None,
    note: str = "",
) -> DecisionReceipt:
    return await _send(
        client, request_id, DecisionKind.DENY, Deny(actor=actor, reason_code=reason_code, note=note)
    )


async def extend(
    client: Client, request_id: str, *, actor: str, months: int, reason: str
) -> DecisionReceipt:
    extension = published_reason(Extend(actor=actor, months=months, reason=reason))
    return await _send(client, request_id, DecisionKind.EXTEND, extension)


async def cancel(client: Client, request_id: str, *, actor: str, reason: str) -> DecisionReceipt:
    return await _send(client, request_id, DecisionKind.CANCEL, Cancel(actor=actor, reason=reason))


async def resolve_system(
    client: Client,
    request_id: str,
    *,
    actor: str,
    system: str,
    outcome: SystemOutcome,
    note: str,
) -> DecisionReceipt:
    return await _send(
        client,
        request_id,
        DecisionKind.RESOLVE_SYSTEM,
        ResolveSystem(actor=actor, system=system, outcome=outcome, note=note),
    )


async def retry_system(
    client: Client, request_id: str, *, actor: str, system: str
) -> DecisionReceipt:
    return await _send(
        client, request_id, DecisionKind.RETRY_SYSTEM, RetrySystem(actor=actor, system=system)
    )


async def skip_system(
    client: Client, request_id: str, *, actor: str, system: str, reason: str
) -> DecisionReceipt:
    return await _send(
        client,
        request_id,
        DecisionKind.SKIP_SYSTEM,
        SkipSystem(actor=actor, system=system, reason=reason),
    )


async def narrow_subject(
    client: Client, request_id: str, *, actor: str, identifier_type: IdentifierType, value: str
) -> DecisionReceipt:
    return await _send(
        client,
        request_id,
        DecisionKind.NARROW_SUBJECT,
        NarrowSubject(actor=actor, identifier=Identifier(type=identifier_type, value=value)),
    )
