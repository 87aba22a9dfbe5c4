"""Lifting a restriction (Art. 18) against the real stack: a restriction request through the
broker, the worker and all five sandbox systems; then the DPO's lift through the front door
(orchestrator.dpo, as the CLI and the API call it); then the systems' own data looked at
directly: billing's and hosting's `restricted` columns, the registrar's contact, and the
newsletter's subscriber enabled again on the lists it was on.

Between the two, the restriction is held: the lift's hold runs from the request's close, its
sealed input carrying each restricted system; the shredding sweep (its activities driven
directly, a month and more ahead) keeps the request's data key for it; and the lift still works
after the restriction request's own history is gone — deleted here through Temporal's
DeleteWorkflowExecution, as the namespace's retention would.

The refusals are the front door's, with the real Temporal: a request still running, a request
that is no restriction, a second lift of the same request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from orchestrator.codec import DATA_KEY_ENCODING
from orchestrator.datakeys import DataKeyRing
from orchestrator.dpo import (
    NotARestriction,
    RestrictionAlreadyLifted,
    RestrictionNotFinished,
    _decide,
    _lift,
)
from orchestrator.dpo._read import TemporalStatus
from orchestrator.shredder import Shredder
from orchestrator.store import Store
from orchestrator.store._keys import KeyStore
from policy.loader import load_policy
from schemas.lift import LiftRestrictionInput, lift_workflow_id
from schemas.records import AuditAction, RestrictionLiftRecord
from schemas.status import RequestStatus, RestrictionState, SystemOutcome
from schemas.workflow import workflow_id_for
from tests.integration.conftest import (
    Stack,
    completed,
    publish_signed,
    request_event,
    status_becomes,
    topic_reader,
    wait_for_workflow,
)
from workflows.shredder import ShredCall, ShredOutcome, ShredScan

pytestmark = pytest.mark.integration
DPO = "dpo@company.se"
NOTE = "accuracy of the contact details verified with the customer"
# Past the default policy's 30 days readable after close: only the hold keeps the key then.
MONTH_AND_MORE = timedelta(days=31)


@pytest.fixture
async def sweeper(
    stack: Stack, temporal: Client
) -> AsyncIterator[Callable[[], Awaitable[Shredder]]]:
    """The sweep's activities on the stack's store and Temporal (run with ActivityEnvironment),
    opened when first asked for: the store is the worker's, migrated once it is up."""
    async with contextlib.AsyncExitStack() as opened:

        async def shredder() -> Shredder:
            url = stack.env["DSR_DATABASE_URL"]
            store = await opened.enter_async_context(await Store.open(url, migrate=False))
            key_store = await opened.enter_async_context(await KeyStore.open(url))
            keys = DataKeyRing(stack.settings.payload_key_ring(), store=key_store, cache_ttl=0)
            policy = load_policy(stack.settings.policy_file)
            return Shredder(temporal, store, keys, key_store, policy)

        yield shredder


async def _sweep(shredder: Shredder, request_id: str, now: datetime) -> ShredOutcome:
    """The sweep's two steps as of `now`: is the request due, and its destruction if it is."""
    found = await ActivityEnvironment().run(
        shredder.find_shreddable, ShredScan(now=now, max_requests=100_000)
    )
    outcome = await ActivityEnvironment().run(
        shredder.shred_request, ShredCall(request_id=request_id, now=now)
    )
    assert (request_id in found.due) is outcome.destroyed
    return outcome


async def _delete_history(temporal: Client, workflow_id: str) -> None:
    """What the namespace's retention does to a closed workflow, now: its history is gone."""
    await temporal.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=temporal.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        )
    )
    async with asyncio.timeout(60):  # the server deletes asynchronously
        while True:
            try:
                await temporal.get_workflow_handle(workflow_id).describe()
            except RPCError as error:
                if error.status is RPCStatusCode.NOT_FOUND:
                    return
                raise
            await asyncio.sleep(0.2)


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
    stack: Stack,
    temporal: Client,
    producer: AIOKafkaProducer,
    sweeper: Callable[[], Awaitable[Shredder]],
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

    # The hold: started with the completion record, its input the systems restricted and the
    # identifiers each was restricted by, sealed with the request's own key; it waits.
    lift = temporal.get_workflow_handle(
        lift_workflow_id(request_id), result_type=RestrictionLiftRecord
    )
    assert (await lift.describe()).status is WorkflowExecutionStatus.RUNNING
    hold_start = (await lift.fetch_history()).events[0].workflow_execution_started_event_attributes
    [sealed] = hold_start.input.payloads
    assert sealed.metadata["encoding"] == DATA_KEY_ENCODING
    assert sealed.metadata["encryption-request"] == request_id.encode()
    assert person.email.encode() not in sealed.data
    [hold_input] = await temporal.data_converter.decode([sealed], [LiftRestrictionInput])
    assert isinstance(hold_input, LiftRestrictionInput) and hold_input.decision is None
    assert hold_input.systems is not None
    by_system = {s.system: s for s in hold_input.systems}
    assert set(by_system) == {"billing", "hosting", "registrar", "newsletter", "support"}
    assert by_system["support"].subject is None and by_system["support"].by_hand
    billing_subject = by_system["billing"].subject
    assert billing_subject is not None
    assert person.email in {i.value for i in billing_subject.identifiers}

    # Waiting is no problem: the desk's stuck list does not show the hold.
    stuck = await TemporalStatus(stack.settings).stuck()
    assert stuck is not None and lift.id not in {s.workflow_id for s in stuck}

    # A month and more on, the sweep keeps the key: the restriction is in force.
    shredder = await sweeper()
    outcome = await _sweep(shredder, request_id, datetime.now(UTC) + MONTH_AND_MORE)
    assert (outcome.destroyed, outcome.waiting_for) == (False, "restriction_hold")
    # Nor may a DPO shred it by hand while it is in force: the hold needs the key to lift it.
    shred_now = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devstack.cli",
        "shred",
        "now",
        request_id,
        "--actor",
        DPO,
        env={**os.environ, **stack.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(shred_now.communicate(), 60)
    assert shred_now.returncode == 1 and b"restriction is in force" in stderr, stderr

    # The restriction request's own history is gone (retention): the hold still lifts it.
    await _delete_history(temporal, workflow_id_for(request_id))
    receipt = await _lift.lift_restriction(temporal, request_id, actor=DPO, note=NOTE)
    assert receipt.restriction is RestrictionState.LIFTING
    assert receipt.status is RequestStatus.COMPLETED
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
    # Lifted, the usual rules: readable for the policy's period, counted from the lift (just
    # before its end the close's own period is over), then shredded (the end of this test).
    readable = load_policy(stack.settings.policy_file).readable_after_close("restriction")
    assert lifted.finished_at - record.completed_at > timedelta(seconds=1)
    just_before = lifted.finished_at + readable - timedelta(seconds=1)
    outcome = await _sweep(shredder, request_id, just_before)
    assert (outcome.destroyed, outcome.waiting_for) == (False, "retain_until")
    later = lifted.finished_at + MONTH_AND_MORE

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
        "orchestrator.restricted_request",
        "connector.lift_restriction",
        "orchestrator.record_restriction_lift",
    }
    for s in scheduled:
        for p in s.input.payloads:
            assert p.metadata["encoding"] == DATA_KEY_ENCODING
            assert person.email.encode() not in p.data

    # ... and once that period is over, the key goes like any closed request's.
    outcome = await _sweep(shredder, request_id, later)
    assert outcome.destroyed, outcome


async def test_only_a_restriction_requests_restriction_is_lifted(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(
        producer, stack, request_event("access", {"email": person.email})
    )
    await completed(temporal, request_id)
    # No hold for a request that restricted nothing (here: no restriction at all).
    with pytest.raises(RPCError) as missing:
        await temporal.get_workflow_handle(lift_workflow_id(request_id)).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    with pytest.raises(NotARestriction, match="access request"):
        await _lift.lift_restriction(temporal, request_id, actor=DPO, note=NOTE)
    with pytest.raises(_decide.DecisionRejected, match="needs a note"):
        await _lift.lift_restriction(temporal, request_id, actor=DPO, note=" ")


async def _restricted_and_held(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, email: str
) -> str:
    """A restriction request of `email` through the stack, completed (support, which has no
    restrict operation, resolved by hand), its hold running; its id."""
    request_id = await publish_signed(
        producer, stack, request_event("restriction", {"email": email})
    )
    handle = await wait_for_workflow(temporal, request_id)
    await status_becomes(handle, RequestStatus.NEEDS_ATTENTION)
    await _decide.resolve_system(
        temporal,
        request_id,
        actor=DPO,
        system="support",
        outcome=SystemOutcome.DONE,
        note="tickets marked restricted in the desk",
    )
    assert (await handle.result()).status is RequestStatus.COMPLETED
    hold = temporal.get_workflow_handle(lift_workflow_id(request_id))
    assert (await hold.describe()).status is WorkflowExecutionStatus.RUNNING
    return request_id


async def test_lifting_one_of_two_restrictions_of_a_person_leaves_the_other_in_force(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """Two restriction requests of one person (one pending an accuracy check, one an
    objection's verification) share each system's single restriction flag: lifting the first
    leaves every system restricted under the second, whose hold still waits, and says so in
    the first's record; lifting the second lifts them all."""
    person = stack.fresh_customer(everywhere=True)
    while _subscriber(stack, person.customer_number)[0] != "enabled":  # not bounced
        person = stack.fresh_customer(everywhere=True)
    subscribed = _subscriber(stack, person.customer_number)
    first = await _restricted_and_held(stack, temporal, producer, person.email)
    second = await _restricted_and_held(stack, temporal, producer, person.email)

    await _lift.lift_restriction(temporal, first, actor=DPO, note=NOTE)
    first_lift = await temporal.get_workflow_handle(
        lift_workflow_id(first), result_type=RestrictionLiftRecord
    ).result()

    # Still enforced everywhere, for the second request.
    kept = _flags(stack, person.customer_number)
    assert kept["billing"] == kept["hosting"] == {True}
    assert True in kept["registrar"]  # type: ignore[operator]
    assert kept["newsletter"][0] == "blocklisted"  # type: ignore[index]
    # The first's record says which systems stay under the second: not lifted, not a task.
    assert {s.system: (s.outcome, s.kept_under) for s in first_lift.systems} == {
        system: (SystemOutcome.RETAINED, second)
        for system in ("billing", "hosting", "registrar", "newsletter", "support")
    }
    assert all(second in (s.reason or "") for s in first_lift.systems)
    assert first_lift.tasks == [] and first_lift.state is RestrictionState.LIFTED
    async with await Store.open(stack.env["DSR_DATABASE_URL"], migrate=False) as store:
        stored = await store.get_completion_record(first)
        second_summary = await store.get_request(second)
    assert stored is not None and stored.restriction_lift == first_lift
    assert second_summary is not None and second_summary.restriction is None  # in force
    second_hold = temporal.get_workflow_handle(
        lift_workflow_id(second), result_type=RestrictionLiftRecord
    )
    assert (await second_hold.describe()).status is WorkflowExecutionStatus.RUNNING

    # The second's lift: the first's hold has ended, so everything is lifted now.
    await _lift.lift_restriction(temporal, second, actor=DPO, note=NOTE)
    second_lift = await second_hold.result()
    after = _flags(stack, person.customer_number)
    assert after["billing"] == after["hosting"] == after["registrar"] == {False}
    assert after["newsletter"] == subscribed
    assert {s.system: s.outcome for s in second_lift.systems} == {
        "billing": SystemOutcome.DONE,
        "hosting": SystemOutcome.DONE,
        "registrar": SystemOutcome.DONE,
        "newsletter": SystemOutcome.DONE,
        "support": SystemOutcome.MANUAL,  # restricted by hand: lifted by hand
    }
    assert second_lift.state is RestrictionState.PARTLY_LIFTED
