"""Trying a failed deferred erasure again now, in the DPO front door: the one place the CLI
(`dsr retry-deferred-erasure`), the HTTP API (`POST /api/requests/{id}/retry_deferred_erasure`)
and the dashboard's button take this decision (through `_decide.decide`).

Why it exists: when a retention period ends, the request's deferred-erasure chain
(`dsr-<id>-deferred-erasure`, workflows/follow_up.py) erases what was kept. A system that
refuses in a way retrying cannot fix (a rotated credential, a configuration, a connector no
longer deployed) is recorded as failing and tried again after 1 hour, doubling to a day. Once
the cause is fixed, an operator or the DPO asks for the attempt now instead of waiting up to a
day; the decision (who, when, why) is in the request's audit trail before the attempt starts.

It is an Update of the chain, `retry_now`, whose validator refuses it when nothing is failing
(and says when the next erasure is due). Errors, as for every decision: `DecisionRejected`
(refused, the message says why), `RequestNotRunning` (no chain runs for the request: none was
planned, or everything is erased), `DecisionUnavailable` (Temporal unreachable, or the chain
did not answer in time).
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowUpdateFailedError
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
from schemas.events import is_valid_request_id
from schemas.workflow import DecisionReceipt, RetryDeferredErasure
from workflows.follow_up import RETRY_UPDATE, follow_up_workflow_id

__all__ = ["retry_deferred_erasure", "send_deferred_retry"]


async def retry_deferred_erasure(
    client: Client, request_id: str, *, actor: str, note: str = ""
) -> DecisionReceipt:
    """The CLI's entry point: `send_deferred_retry` with the decision built from its fields."""
    decision = RetryDeferredErasure(actor=actor, note=note)
    return await send_deferred_retry(client, request_id, decision)


async def send_deferred_retry(
    client: Client, request_id: str, decision: RetryDeferredErasure
) -> DecisionReceipt:
    """The decision as the chain's `retry_now` Update; it answers once it is audited."""
    published_text(decision)  # free text in the audit trail: no personal data
    if not decision.actor.strip():
        raise DecisionRejected("a decision needs an actor")
    if not is_valid_request_id(request_id):
        raise RequestNotRunning(f"no request has the id {request_id[:80]!r}")
    handle = client.get_workflow_handle(follow_up_workflow_id(request_id))
    try:
        return await send_update(
            handle,
            RETRY_UPDATE,
            decision,
            unanswered=(
                f"the deferred erasure did not answer within "
                f"{DECISION_TIMEOUT.total_seconds():g} s (is the orchestrator's worker running?); "
                "the retry may still be taken when it does: look at the request before repeating it"
            ),
        )
    except PayloadKeyMissing:
        raise RequestNotRunning(
            f"request {request_id} is crypto-shredded: it has no deferred erasure left"
        ) from None
    except WorkflowUpdateFailedError as error:
        message = update_failure(error)
        if "not found" in message and "handler" in message.lower():
            message = (
                "this deferred erasure was started by an older worker and takes no retry "
                "decisions yet: it tries again on its own within a day"
            )
        raise DecisionRejected(message) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND or "completed" in error.message:
            raise RequestNotRunning(
                f"request {request_id} has no deferred erasure running (none was planned, or "
                "everything it kept is erased)"
            ) from None
        if error.status in UNAVAILABLE_RPC:
            raise DecisionUnavailable(
                f"Temporal is not available ({error.status.name}): nothing was retried; look at "
                "the request before repeating it"
            ) from None
        raise
