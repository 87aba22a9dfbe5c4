"""Lifting a restriction (Art. 18) against the real stack: a restriction request through the
broker, the worker and all five sandbox systems; then the DPO's lift through the front door
(orchestrator.dpo, as the CLI and the API call it); then the systems' own data looked at
directly: billing's and hosting's `restricted` columns, the registrar's contact, and the
newsletter's subscriber enabled again on the lists it was on.

The refusals are the front door's, with the real Temporal: a request still running, a request
that is no restriction, a second lift of the same request."""

from __future__ import annotations

import json
import sqlite3

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from orchestrator.codec import DATA_KEY_ENCODING
from orchestrator.dpo import (
    NotARestriction,
    RestrictionAlreadyLifted,
    RestrictionNotFinished,
    _decide,
    _lift,
)
from orchestrator.store import Store
from schemas.lift import lift_workflow_id
from schemas.records import AuditAction, RestrictionLiftRecord
from schemas.status import RequestStatus, RestrictionState, SystemOutcome
from tests.integration.conftest import (
    Stack,
    completed,
    publish_signed,
    request_event,
    status_becomes,
    topic_reader,
    wait_for_workflow,
)

pytestmark = pytest.mark.integration
DPO = "dpo@company.se"
NOTE = "accuracy of the contact details verified with the customer"


def _db(stack: Stack, system: str) -> sqlite3.Connection:
    return sqlite3.connect(stack.root / "sandbox" / f"{system}.db")


def _flags(stack: Stack, customer_number: str) -> dict[str, object]:
    """Each system's own restriction mark for the customer, read from its database."""
    with _db(stack, "billing") as billing, _db(stack, "hosting") as hosting:
        billing_flag = billing.execute(
            "SELECT restricted FROM customers WHERE customer_number = ?", (customer_number,)
        ).fetchall()
        hosting_flags = hosting.execute(
            "SELECT restricted FROM accounts WHERE customer_number = ?", (customer_number,)
        ).fetchall()
    with _db(stack, "registrar") as registrar:
        registrar_flags = registrar.execute(
            "SELECT restricted FROM contacts WHERE customer_number = ?", (customer_number,)
        ).fetchall()
    return {
        "billing": {bool(r[0]) for r in billing_flag},
        "hosting": {bool(r[0]) for r in hosting_flags},
        "registrar": {bool(r[0]) for r in registrar_flags},
        "newsletter": _subscriber(stack, customer_number),
    }


def _subscriber(stack: Stack, customer_number: str) -> tuple[str, dict[int, str]]:
    """The newsletter subscriber's status and its list subscriptions."""
    with _db(stack, "newsletter") as newsletter:
        [(subscriber_id, status)] = newsletter.execute(
            "SELECT id, status FROM subscribers "
            "WHERE json_extract(attribs, '$.customer_number') = ?",
            (customer_number,),
        ).fetchall()
        lists = newsletter.execute(
            "SELECT list_id, status FROM subscriber_lists WHERE subscriber_id = ?",
            (subscriber_id,),
        ).fetchall()
    return str(status), {int(list_id): str(s) for list_id, s in lists}


async def test_a_restriction_is_lifted_in_every_system_after_the_subject_was_told(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer(everywhere=True)
    while _subscriber(stack, person.customer_number)[0] != "enabled":  # not bounced
        person = stack.fresh_customer(everywhere=True)
    before = _flags(stack, person.customer_number)
    assert before["billing"] == before["hosting"] == before["registrar"] == {False}
    subscribed_status, subscribed_lists = before["newsletter"]  # type: ignore[misc]
    assert subscribed_status == "enabled" and subscribed_lists

    request_id = await publish_signed(
        producer, stack, request_event("restriction", {"email": person.email})
    )
    handle = await wait_for_workflow(temporal, request_id)
    attention = await status_becomes(handle, RequestStatus.NEEDS_ATTENTION)
    # Support has no restrict operation: a person's task, which the DPO resolves by hand.
    held = {s.system for s in attention.systems if s.outcome is SystemOutcome.MANUAL}
    assert held == {"support"}, {s.system: (s.outcome, s.reason) for s in attention.systems}
    with pytest.raises(RestrictionNotFinished, match="still running"):
        await _lift.lift_restriction(temporal, request_id, actor=DPO, note=NOTE)
    await _decide.resolve_system(
        temporal,
        request_id,
        actor=DPO,
        system="support",
        outcome=SystemOutcome.DONE,
        note="tickets marked restricted in the desk",
    )
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    restricted = _flags(stack, person.customer_number)
    assert restricted["billing"] == restricted["hosting"] == {True}
    assert True in restricted["registrar"]  # type: ignore[operator]
    assert restricted["newsletter"][0] == "blocklisted"  # type: ignore[index]

    receipt = await _lift.lift_restriction(temporal, request_id, actor=DPO, note=NOTE)
    assert receipt.restriction is RestrictionState.LIFTING
    assert receipt.status is RequestStatus.COMPLETED
    lift = temporal.get_workflow_handle(
        lift_workflow_id(request_id), result_type=RestrictionLiftRecord
    )
    lifted = await lift.result()

    # The systems' own data: the restriction is gone, the subscriber back on its lists.
    after = _flags(stack, person.customer_number)
    assert after["billing"] == after["hosting"] == after["registrar"] == {False}
    assert after["newsletter"] == (subscribed_status, subscribed_lists)

    outcomes = {s.system: s.outcome for s in lifted.systems}
    assert outcomes == {
        "billing": SystemOutcome.DONE,
        "hosting": SystemOutcome.DONE,
        "registrar": SystemOutcome.DONE,
        "newsletter": SystemOutcome.DONE,
        "support": SystemOutcome.MANUAL,  # restricted by hand: lifted by hand
    }
    assert [s.system for s in lifted.tasks] == ["support"]
    assert lifted.state is RestrictionState.PARTLY_LIFTED
    assert (lifted.requested_by, lifted.note) == (DPO, NOTE)

    # A second lift is refused, by the lift's id, and changes nothing.
    with pytest.raises(RestrictionAlreadyLifted, match="already lifted"):
        await _lift.lift_restriction(temporal, request_id, actor=DPO, note=NOTE)

    # The store: the state, the proof in the completion record, and the audit trail.
    async with await Store.open(stack.env["DSR_DATABASE_URL"], migrate=False) as store:
        summary = await store.get_request(request_id)
        stored = await store.get_completion_record(request_id)
        trail = await store.audit_trail(request_id)
    assert summary is not None and summary.restriction is not None
    assert summary.restriction.state is RestrictionState.PARTLY_LIFTED
    assert summary.status is RequestStatus.COMPLETED
    assert summary.decisions[-1].decision.value == "lift_restriction"
    assert stored is not None and stored.restriction_lift == lifted
    decided = [e for e in trail if e.action is AuditAction.DECISION and e.actor == DPO]
    assert decided[-1].details["note"] == NOTE
    [entry] = [e for e in trail if e.action is AuditAction.RESTRICTION_LIFTED]
    assert entry.details["requested_by"] == DPO and entry.details["note"] == NOTE
    assert entry.details["systems"]["billing"]["outcome"] == "done"  # type: ignore[index]
    assert trail.index(decided[-1]) < trail.index(entry)
    for e in trail:
        text = json.dumps(e.details, default=str)
        assert person.email not in text and person.customer_number not in text

    # The portal: told "lifting" before "partly_lifted", never any personal data.
    states = []
    async with topic_reader(stack, stack.settings.status_topic) as consumer:
        while not states or states[-1] != "partly_lifted":
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for message in records:
                    if message.key != request_id.encode():
                        continue
                    assert person.email.encode() not in message.value
                    data = json.loads(message.value)["data"]
                    if data.get("restriction"):
                        states.append(data["restriction"]["state"])
                        assert data["restriction"]["reason"] == NOTE
                        assert data["status"] == "completed"
    assert states == ["lifting", "partly_lifted"]

    # The identifiers in the lift's history are sealed with the request's own data key.
    history = await lift.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [payload] = started.input.payloads
    assert payload.metadata["encoding"] == DATA_KEY_ENCODING
    assert payload.metadata["encryption-request"] == request_id.encode()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert {s.activity_type.name for s in scheduled} >= {
        "orchestrator.restriction_to_lift",
        "connector.lift_restriction",
        "orchestrator.record_restriction_lift",
    }
    for s in scheduled:
        for p in s.input.payloads:
            assert p.metadata["encoding"] == DATA_KEY_ENCODING
            assert person.email.encode() not in p.data


async def test_only_a_restriction_requests_restriction_is_lifted(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(
        producer, stack, request_event("access", {"email": person.email})
    )
    await completed(temporal, request_id)
    with pytest.raises(NotARestriction, match="access request"):
        await _lift.lift_restriction(temporal, request_id, actor=DPO, note=NOTE)
    with pytest.raises(_decide.DecisionRejected, match="needs a note"):
        await _lift.lift_restriction(temporal, request_id, actor=DPO, note=" ")
