"""DPO decisions against the real stack: the identity gate, denial, per-system resolution of an
ambiguous match — sent through the DPO front door (orchestrator.dpo) as Temporal Updates.

These flows are also what the replay test guards: with DSR_RECORD_HISTORIES=1 (`make
histories`) each test writes its workflow's history to tests/histories/v2_<name>.json.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client, WorkflowHandle

from orchestrator.codec import reseal_under_master_key
from orchestrator.dpo import Desk, _decide
from orchestrator.dpo._decide import DecisionRejected, RequestNotRunning
from sandbox.billing.seed import seeded_customer
from schemas.events import Scope
from schemas.identifiers import IdentifierType
from schemas.records import RequestSummary
from schemas.status import DenialCode, RequestStatus, RetentionReason, SystemOutcome
from tests.integration.conftest import (
    SEED,
    Stack,
    completed,
    publish_signed,
    request_event,
    status_becomes,
    wait_for_workflow,
)
from tests.integration.conftest import (
    billing_db as _billing_db,
)
from workflows.dsr import DsrWorkflow

pytestmark = pytest.mark.integration
HISTORIES = Path(__file__).resolve().parent.parent / "histories"
DPO = "dpo@company.se"


def _unverified(kind: str, email: str) -> dict:  # type: ignore[type-arg]
    doc = request_event(kind, {"email": email})
    doc["data"]["verification"] = {"method": "none", "verified_at": None}
    return doc


# The prefix of the histories `make histories` records now: one per shipped generation of
# DsrWorkflowV2's command sequence. Older generations' files stay committed, so the replay test
# keeps proving that workflows started before each `workflow.patched` still replay.
# v2: Updates, gates, deadline clock; v2b: bookkeeping as local activities (local-bookkeeping-v1);
# v2c: the package activity starts the expiry timer, no child (expiry-by-package-v1);
# v2d: a scope the deployment cannot carry out as written waits for the DPO (scope-gate-v1);
# v2e: the company's calendar (local-calendar-v1), deferred erasure on close too
# (deferred-erasure-on-close-v1).
HISTORY_GENERATION = "v2e"


async def _record_history(handle: WorkflowHandle, name: str) -> None:
    """With DSR_RECORD_HISTORIES=1, keep this DsrWorkflowV2 history for the replay test."""
    if os.environ.get("DSR_RECORD_HISTORIES") == "1":
        # Per-request payloads re-sealed under the fixed test key: the recording store (and the
        # request's data key in it) is gone when the replay test runs.
        codec = handle._client.data_converter.payload_codec  # the client that sealed them
        assert codec is not None
        history = await reseal_under_master_key(await handle.fetch_history(), codec)
        (HISTORIES / f"{HISTORY_GENERATION}_{name}.json").write_text(history.to_json())


async def test_unverified_request_waits_then_proceeds_on_confirmation(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(producer, stack, _unverified("access", person.email))
    handle = await wait_for_workflow(temporal, request_id)

    waiting = await status_becomes(handle, RequestStatus.AWAITING_VERIFICATION)
    assert waiting.systems == [], "nothing is searched before identity is confirmed"
    assert waiting.due_date is not None

    with pytest.raises(DecisionRejected, match="only in awaiting_decision"):
        await _decide.approve(temporal, request_id, actor=DPO)
    receipt = await _decide.confirm_identity(temporal, request_id, actor=DPO, method="bankid")
    assert receipt.decision == "confirm_identity"
    record = await completed(temporal, request_id)
    assert record.status is RequestStatus.COMPLETED
    assert next(s for s in record.systems if s.system == "billing").outcome is SystemOutcome.DONE
    assert [(d.decision.value, d.actor) for d in record.decisions] == [("confirm_identity", DPO)]
    with pytest.raises(RequestNotRunning):
        await _decide.cancel(temporal, request_id, actor=DPO, reason="too late")
    await _record_history(handle, "access_confirmed_identity")


async def test_unverified_request_denied_touches_nothing(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(producer, stack, _unverified("erasure", person.email))
    handle = await wait_for_workflow(temporal, request_id)
    await status_becomes(handle, RequestStatus.AWAITING_VERIFICATION)

    with pytest.raises(DecisionRejected, match="needs a reason code"):
        await _decide.deny(temporal, request_id, actor=DPO, reason_code=None)
    await _decide.deny(
        temporal,
        request_id,
        actor=DPO,
        reason_code=DenialCode.INSUFFICIENT_VERIFICATION,
        note="no reply to two letters",
    )
    record = await handle.result()
    assert record.status is RequestStatus.DENIED
    assert record.reason == "insufficient_verification: no reply to two letters"
    assert record.systems == []
    await _record_history(handle, "erasure_denied")


async def test_an_erasure_scoped_to_purposes_waits_for_the_dpos_approval(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """Which data "direct marketing" covers is not the connectors' to decide: nothing is
    located or erased until the DPO approves, through the same front door as the CLI and API."""
    person = stack.fresh_customer()
    doc = request_event("erasure", {"email": person.email})
    doc["data"]["scope"] = {"systems": ["billing"], "purposes": ["direct marketing"]}
    request_id = await publish_signed(producer, stack, doc)
    handle = await wait_for_workflow(temporal, request_id)
    waiting = await status_becomes(handle, RequestStatus.AWAITING_DECISION)
    assert waiting.reason is not None and "purpose(s)" in waiting.reason
    assert "marketing" not in waiting.reason
    assert waiting.systems == [], "nothing is searched before the DPO decides"
    # What the DPO decides on: the scope as the customer wrote it, read from the workflow.
    desk = await Desk.open(stack.settings)
    try:
        view = await desk.get_request(request_id)
    finally:
        await desk.close()
    assert view is not None and view.source == "live"
    assert view.scope == Scope(systems=["billing"], purposes=["direct marketing"])

    await _decide.approve(temporal, request_id, actor=DPO, note="the whole billing account")
    record = await completed(temporal, request_id)
    assert record.status is RequestStatus.COMPLETED
    assert [s.system for s in record.systems] == ["billing"]
    assert [(d.decision.value, d.actor) for d in record.decisions] == [("approve", DPO)]
    await _record_history(handle, "erasure_scoped_approved")


async def test_record_histories_of_access_and_erasure(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """Runs an access and an erasure request; with DSR_RECORD_HISTORIES=1 keeps their histories."""
    company = stack.fresh_customer("company", needs=("contact", "invoices"))
    for kind, name in (("access", "access"), ("erasure", "erasure")):
        request_id = await publish_signed(
            producer, stack, request_event(kind, {"email": company.email})
        )
        record = await completed(temporal, request_id)
        assert record.status is RequestStatus.COMPLETED, record.systems
        await _record_history(temporal.get_workflow_handle(record.workflow_id), name)


async def test_ambiguous_subject_is_never_erased_blindly_and_waits_for_the_dpo(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """Two people share one e-mail address: erasure by that address is manual work. Nothing is
    deleted until the DPO decides, system by system."""
    pair = stack.seed.examples.shared_email_pair
    assert pair is not None, "the seed contains a shared-email pair"
    email = pair.emails[0]
    request_id = await publish_signed(producer, stack, request_event("erasure", {"email": email}))
    handle = await wait_for_workflow(temporal, request_id)

    attention = await status_becomes(handle, RequestStatus.NEEDS_ATTENTION)
    billing = next(s for s in attention.systems if s.system == "billing")
    assert billing.outcome is SystemOutcome.MANUAL
    assert billing.reason and email not in billing.reason
    for system in attention.systems:
        assert system.outcome in (SystemOutcome.MANUAL, SystemOutcome.NOT_FOUND), system
        assert not any(k.startswith(("deleted.", "anonymised.")) for k in system.counts), system
    with _billing_db(stack) as db:
        (still_there,) = db.execute(
            "select count(*) from customers where lower(email) = ?", (email,)
        ).fetchone()
    assert still_there == 2

    with pytest.raises(DecisionRejected, match="unknown system 'crm'"):
        await _decide.resolve_system(
            temporal, request_id, actor=DPO, system="crm", outcome=SystemOutcome.DONE, note="x"
        )
    held = [s.system for s in attention.systems if s.outcome is SystemOutcome.MANUAL]
    for name in held:
        await _decide.skip_system(
            temporal, request_id, actor=DPO, system=name, reason="handled by hand"
        )
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    assert {d.system for d in record.decisions} == set(held)
    await _record_history(handle, "erasure_ambiguous_skipped")


async def test_a_household_member_s_first_access_request_is_no_repeat(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """Two people of one household, one e-mail address, each with their own personnummer: his
    access request does not make hers, a month later, a repeated one held for the DPO (the
    shared address was taken for one subject)."""
    her, him = stack.fresh_shared_email_pair()
    started = []
    for person in (him, her):  # his first, still open (a cancelled one gave no copy)
        assert person.personal_identity_number is not None
        subject = {
            "email": person.email,
            "personal_identity_number": person.personal_identity_number,
        }
        request_id = await publish_signed(producer, stack, request_event("access", subject))
        handle = await wait_for_workflow(temporal, request_id)
        summary = await _first_of(
            handle, RequestStatus.NEEDS_ATTENTION, RequestStatus.AWAITING_DECISION
        )
        assert summary.status is RequestStatus.NEEDS_ATTENTION, summary  # ambiguous, no repeat
        started.append(request_id)
    for request_id in started:
        await _decide.cancel(temporal, request_id, actor=DPO, reason="test done")


async def _first_of(handle: WorkflowHandle, *statuses: RequestStatus) -> RequestSummary:
    """The workflow's summary once it reaches one of `statuses` (polled through its query)."""
    async with asyncio.timeout(60):
        while True:
            summary = await handle.query(DsrWorkflow.status)
            if summary is not None and summary.status in statuses:
                return summary
            await asyncio.sleep(0.1)


async def test_a_narrowed_erasure_reaches_the_person_in_every_system_and_spares_the_other(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """A household e-mail and her personnummer: held, then narrowed by the DPO to her
    personnummer. Hosting, newsletter and support hold no personnummer: they find her by the
    customer number billing learned from her record, and erase her there — not "not found" —
    while her partner's records, behind the same address, stay as they were."""
    her, him = stack.fresh_shared_email_pair()
    assert her.personal_identity_number is not None
    subject = {"email": her.email, "personal_identity_number": her.personal_identity_number}
    request_id = await publish_signed(producer, stack, request_event("erasure", subject))
    handle = await wait_for_workflow(temporal, request_id)
    held = await status_becomes(handle, RequestStatus.NEEDS_ATTENTION)
    assert any(s.outcome is SystemOutcome.MANUAL for s in held.systems), held.systems
    await _decide.narrow_subject(
        temporal,
        request_id,
        actor=DPO,
        identifier_type=IdentifierType.PERSONAL_IDENTITY_NUMBER,
        value=her.personal_identity_number,
    )
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED, record.systems
    outcomes = {s.system: s.outcome for s in record.systems}
    assert set(outcomes) == {"billing", "registrar", "hosting", "newsletter", "support"}
    assert set(outcomes.values()) <= {SystemOutcome.DONE, SystemOutcome.RETAINED}, record.systems
    with _billing_db(stack) as db:
        rows = dict(
            db.execute(
                "select customer_number, name from customers where customer_number in (?, ?)",
                (her.customer_number, him.customer_number),
            ).fetchall()
        )
    # Her row is kept for the contract (she is an active customer, her services are invoiced
    # to it); what the erasure reached there was her logins, his stay untouched.
    assert rows[her.customer_number] == her.name
    assert rows[him.customer_number] == him.name  # untouched
    billing = next(s for s in record.systems if s.system == "billing")
    assert [(i.reason, i.count) for i in billing.retained if i.category == "contact"] == [
        (RetentionReason.CONTRACT, 1)
    ]
    with _billing_db(stack) as db:
        sessions = dict(
            db.execute(
                "select c.customer_number, count(s.id) from customers c"
                " left join login_sessions s on s.customer_id = c.id"
                " where c.customer_number in (?, ?) group by c.customer_number",
                (her.customer_number, him.customer_number),
            ).fetchall()
        )
    assert sessions[her.customer_number] == 0
    assert sessions[him.customer_number] == len(
        seeded_customer(him.index, SEED).activity.login_sessions
    )
    await _record_history(handle, "erasure_narrowed")
