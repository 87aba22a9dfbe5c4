"""What every DPO decision shares, the ordinary ones (`_decide`, Updates of the request's
workflow), the restriction lift (`_lift`, a workflow of its own) and the deferred erasure's
retry (`_deferred`): the errors a decision ends in, how an Update is sent and how long it waits
for an answer, which RPC failures mean Temporal is unavailable, and the rule for free text that
is published to the subject verbatim. Kept apart so none of those modules imports another.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCStatusCode

from orchestrator.redaction import capitalised_names, normalised, published_problems, scrub
from schemas.workflow import DecisionReceipt

__all__ = [
    "DECISION_TIMEOUT",
    "EXTENSION_REASON_MAX",
    "PUBLISHED_TEXT_FIELDS",
    "UNAVAILABLE_RPC",
    "DecisionError",
    "DecisionRejected",
    "DecisionUnavailable",
    "RequestNotRunning",
    "published_text",
    "send_update",
    "update_failure",
]


class DecisionError(Exception):
    """A decision that was not taken. The message is for the DPO; it never holds personal data."""


class DecisionRejected(DecisionError):
    """The workflow's validator refused the decision: nothing changed."""


class RequestNotRunning(DecisionError):
    """No running workflow takes decisions for this request (unknown id, or finished)."""


class DecisionUnavailable(DecisionError):
    """Temporal could not be reached or did not answer in time. After a timeout the Update may
    still be delivered once a worker polls: the message says so, and the DPO looks at the
    request before repeating it (a repeated decision is then refused by the workflow)."""


# How long a decision waits for its workflow's answer. An Update is answered by a worker: with
# none polling the request's task queue the call would otherwise wait for ever (the SDK retries
# its polls without end), holding an HTTP request, a dashboard form and the DPO with it.
DECISION_TIMEOUT = timedelta(seconds=15)


async def send_update(
    handle: WorkflowHandle[Any, Any], update: Any, arg: BaseModel, *, unanswered: str
) -> DecisionReceipt:
    """The decision as an Update of `handle`'s workflow, answered within DECISION_TIMEOUT, else
    `DecisionUnavailable(unanswered)`. Every other error is the caller's to map."""
    try:
        # The RPC deadline bounds each call; the outer one the SDK's polling for the outcome.
        async with asyncio.timeout(DECISION_TIMEOUT.total_seconds() + 1):
            receipt: DecisionReceipt = await handle.execute_update(
                update, arg, result_type=DecisionReceipt, rpc_timeout=DECISION_TIMEOUT
            )
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        raise DecisionUnavailable(unanswered) from None
    return receipt


def update_failure(error: WorkflowUpdateFailedError) -> str:
    """The validator's (or handler's) message of a refused Update."""
    cause = error.cause
    return getattr(cause, "message", None) or str(cause or error)


# RPC errors that are Temporal being unavailable, not a verdict on the decision.
UNAVAILABLE_RPC = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
}


# ── what the subject is told verbatim ─────────────────────────────────────────────────────
# A decision's free text leaves the orchestrator as typed: an extension's reason, a denial's note
# and a cancellation's reason become the request's reason, a resolve note or skip reason becomes
# the system's, and all of them go to the portal on `dsr.status.v1` (and into the audit trail
# and the completion record). A DPO who writes "asked anna@example.se to confirm" would publish
# personal data (of the subject, or of someone else). The rule is the log redaction's
# (`orchestrator.redaction.scrub`: e-mail, personnummer/organisationsnummer, phone, street
# address, postcode, a person's name, `name=...`): text it would change is refused rather than
# silently altered in what the subject reads.
EXTENSION_REASON_MAX = 500
PUBLISHED_TEXT_FIELDS = ("reason", "note")
_FOUND = {
    "[email]": "an e-mail address",
    "[id-number]": "a personnummer or organisation number",
    "[phone]": "a phone number",
    "[address]": "a street address",
    "[postcode]": "a postcode",
    "[name]": "a person's name",
    "[redacted]": "a labelled personal value",
}


def _no_personal_data(text: str | None) -> str | None:
    """Refused when the log rule would mask anything in it, as its reader sees it (disguises
    folded, lower-case names capitalised), or it holds what a note never needs (a long number,
    an IP address, a spelled-out address: orchestrator.redaction._published)."""
    if not text:
        return text
    shown = capitalised_names(normalised(text))
    scrubbed = scrub(shown)
    found = [what for mark, what in _FOUND.items() if scrubbed.count(mark) > shown.count(mark)]
    if scrubbed != shown and not found:
        found = ["personal data"]
    found += published_problems(shown, scrubbed)
    if found:
        raise ValueError(
            "this text is published verbatim to the subject's portal and must not contain "
            f"personal data; it looks like it holds {' and '.join(found)}"
        )
    return text


_PublishedStr = Annotated[
    str | None, Field(max_length=EXTENSION_REASON_MAX), AfterValidator(_no_personal_data)
]


class _PublishedText(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: _PublishedStr = None
    note: _PublishedStr = None


def published_text(decision: BaseModel) -> BaseModel:
    """The decision if its free text (`reason`, `note`) may be published; else
    `pydantic.ValidationError` (at the field, never echoing the text)."""
    texts = {name: getattr(decision, name, None) for name in PUBLISHED_TEXT_FIELDS}
    _PublishedText.model_validate({k: v for k, v in texts.items() if isinstance(v, str)})
    return decision
