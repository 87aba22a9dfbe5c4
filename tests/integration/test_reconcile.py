"""The reconciler proves nothing was lost at the intake, and repairs it where it was: a valid
and an invalid event the intake skipped (stopped, its committed offset moved past them — what
the poison-pill crash used to do) are found, re-driven and reported."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from temporalio.client import Client

from orchestrator.publish import encode_request
from orchestrator.reconcile import reconcile_workflow_id
from orchestrator.signing import signature_headers
from orchestrator.store import Store
from schemas.events import DsrRequestedEvent
from schemas.reconcile import ReconcileInput, ReconcileReport
from schemas.records import AuditAction
from tests.integration.conftest import (
    Stack,
    completed,
    dead_letters_for,
    new_request_id,
    request_event,
    topic_reader,
)
from workflows.reconcile import ReconcileWorkflow

pytestmark = pytest.mark.integration


async def _commit_intake_past(stack: Stack, positions: list[tuple[int, int]]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.infra.kafka,
        group_id=stack.settings.intake_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = {}
        for partition, offset in positions:
            tp = TopicPartition(stack.settings.requests_topic, partition)
            offsets[tp] = max(offsets.get(tp, 0), offset + 1)
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def test_records_the_intake_skipped_are_redriven_and_reported(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, dlq: AIOKafkaConsumer
) -> None:
    settings = stack.settings
    key_id, secret = next(iter(settings.signing_key_ring().items()))
    person = stack.fresh_customer()
    event = DsrRequestedEvent.model_validate(request_event("access", {"email": person.email}))
    good_id = event.data.request_id
    good = encode_request(event)
    bad_id = new_request_id()
    bad_doc = request_event("access", {"email": person.email}, request_id=bad_id)
    bad_doc["data"]["kind"] = "everything"
    bad = json.dumps(bad_doc).encode()

    stack.intake.stop()  # commits what it handled, leaves the group
    try:
        positions = []
        for rid, value in ((good_id, good), (bad_id, bad)):
            meta = await producer.send_and_wait(
                settings.requests_topic,
                key=rid.encode(),
                value=value,
                headers=signature_headers(value, key_id, secret),
            )
            positions.append((meta.partition, meta.offset))
        await _commit_intake_past(stack, positions)  # acknowledged, never handled: "lost"
    finally:
        stack.intake = stack.process("intake").start()

    report: ReconcileReport = await temporal.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(),
        id=f"{reconcile_workflow_id(settings)}/test-{uuid.uuid4().hex[:8]}",
        task_queue=settings.orchestrator_task_queue,
    )
    assert report.examined >= 2
    # (a scheduled run may have got there first: the effects are what must hold)
    redriven = {(r.partition, r.offset): r for r in report.redriven}
    for position in positions:
        if position in redriven:
            assert redriven[position].outcome in ("started", "dead_lettered")

    assert (await completed(temporal, good_id)).status.value == "completed"
    letter = (await dead_letters_for(dlq, {bad_id.encode()}))[bad_id.encode()]
    assert dict(letter.headers)["dsr-dlq-reason"] == b"schema_violation"

    store = await Store.open(stack.env["DSR_DATABASE_URL"])
    try:
        for rid in (good_id, bad_id):
            trail = await store.audit_trail(rid)
            assert any(
                e.action is AuditAction.RECONCILED and e.actor == "reconciler" for e in trail
            ), rid
    finally:
        await store.close()

    async with topic_reader(stack, settings.status_topic) as status:
        async with asyncio.timeout(30):
            late = None
            while late is None:
                for records in (await status.getmany(timeout_ms=200)).values():
                    for record in records:
                        data = json.loads(record.value)["data"]
                        if data["request_id"] == good_id and "reconciler" in (
                            data.get("reason") or ""
                        ):
                            late = data
    assert late["status"] == "received"

    # proven once, not again: a second run finds nothing missing
    again: ReconcileReport = await temporal.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(),
        id=f"{reconcile_workflow_id(settings)}/test-{uuid.uuid4().hex[:8]}",
        task_queue=settings.orchestrator_task_queue,
    )
    assert not {(r.partition, r.offset) for r in again.redriven} & set(positions)
