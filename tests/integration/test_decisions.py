"""The identity gate: an unverified request waits, does nothing, and proceeds or ends on a
decision — and the histories of these flows are what the replay test guards."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client, WorkflowHandle

from schemas.records import RequestSummary
from schemas.status import RequestStatus, SystemOutcome
from schemas.workflow import DenyDecision, IdentityConfirmation, Resolution, ResolutionAction
from tests.integration.conftest import (
    Stack,
    completed,
    publish_signed,
    request_event,
    wait_for_workflow,
)
from tests.integration.conftest import (
    billing_db as _billing_db,
)

pytestmark = pytest.mark.integration
HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def _status_becomes(
    handle: WorkflowHandle, status: RequestStatus, timeout: float = 60
) -> RequestSummary:
    async with asyncio.timeout(timeout):
        while True:
            summary = await handle.query("status", result_type=RequestSummary)
            if summary is not None and summary.status is status:
                return summary
            await asyncio.sleep(0.1)


def _unverified(kind: str, email: str) -> dict:  # type: ignore[type-arg]
    doc = request_event(kind, {"email": email})
    doc["data"]["verification"] = {"method": "none", "verified_at": None}
    return doc


async def _record_history(handle: WorkflowHandle, name: str) -> None:
    """With DSR_RECORD_HISTORIES=1, keep this history for the replay test (tests/histories/)."""
    if os.environ.get("DSR_RECORD_HISTORIES") == "1":
        history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())


async def test_unverified_request_waits_then_proceeds_on_confirmation(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(producer, stack, _unverified("access", person.email))
    handle = await wait_for_workflow(temporal, request_id)

    waiting = await _status_becomes(handle, RequestStatus.AWAITING_VERIFICATION)
    assert waiting.systems == [], "nothing is searched before identity is confirmed"

    await handle.signal(
        "confirm_identity", IdentityConfirmation(actor="dpo@company", method="bankid")
    )
    record = await completed(temporal, request_id)
    assert record.status is RequestStatus.COMPLETED
    assert next(s for s in record.systems if s.system == "billing").outcome is SystemOutcome.DONE
    await _record_history(handle, "access_confirmed_identity")


async def test_unverified_request_denied_touches_nothing(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(producer, stack, _unverified("erasure", person.email))
    handle = await wait_for_workflow(temporal, request_id)
    await _status_becomes(handle, RequestStatus.AWAITING_VERIFICATION)

    await handle.signal("deny", DenyDecision(actor="dpo@company", reason="identity not confirmed"))
    record = await handle.result()
    assert record.status is RequestStatus.DENIED
    assert record.reason == "identity not confirmed"
    assert record.systems == []
    await _record_history(handle, "erasure_denied")


async def test_record_histories_of_access_and_erasure(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """Runs an access and an erasure request; with DSR_RECORD_HISTORIES=1 keeps their histories."""
    company = stack.fresh_customer("company", needs=("contact", "invoices"))
    for kind, person, name in (("access", company, "access"), ("erasure", company, "erasure")):
        request_id = await publish_signed(
            producer, stack, request_event(kind, {"email": person.email})
        )
        record = await completed(temporal, request_id)
        assert record.status is RequestStatus.COMPLETED
        await _record_history(temporal.get_workflow_handle(record.workflow_id), name)


async def test_ambiguous_subject_is_never_erased_blindly_and_waits_for_the_dpo(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """Two people share one e-mail address: erasure by that address is manual work. The request
    needs attention until a DPO closes it (after handling it by hand); nothing is deleted."""
    pair = stack.seed.examples.shared_email_pair
    assert pair is not None, "the seed contains a shared-email pair"
    email = pair.emails[0]
    request_id = await publish_signed(producer, stack, request_event("erasure", {"email": email}))
    handle = await wait_for_workflow(temporal, request_id)

    attention = await _status_becomes(handle, RequestStatus.NEEDS_ATTENTION)
    billing = next(s for s in attention.systems if s.system == "billing")
    assert billing.outcome is SystemOutcome.MANUAL
    assert billing.reason and email not in billing.reason
    # Ambiguity is the subject's: systems holding one record for the shared address (which
    # cannot tell two people apart) are held too, and nothing was erased anywhere.
    for system in attention.systems:
        assert system.outcome in (SystemOutcome.MANUAL, SystemOutcome.NOT_FOUND), system
        assert not any(k.startswith(("deleted.", "anonymised.")) for k in system.counts), system
    held = [s for s in attention.systems if s.reason and s.reason.startswith("held:")]
    assert held, "at least one system could not see the ambiguity itself and was held"
    with _billing_db(stack) as db:
        (still_there,) = db.execute(
            "select count(*) from customers where lower(email) = ?", (email,)
        ).fetchone()
    assert still_there == 2

    await handle.signal(
        "resolve", Resolution(actor="dpo@company", action=ResolutionAction.CLOSE, note="by hand")
    )
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    assert record.reason == "closed by DPO"
    await _record_history(handle, "erasure_ambiguous_held")
