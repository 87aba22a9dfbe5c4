"""The reconciler proves nothing was lost at the intake, and repairs it where it was: a valid
and an invalid event the intake skipped (its committed offset moved past them — what the
poison-pill crash used to do) are found, re-driven and reported."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from orchestrator.publish import encode_request
from orchestrator.reconcile import SCHEDULE_ID, Reconciler, reconcile_workflow_id
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from orchestrator.status_publisher import KafkaStatusPublisher
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


async def _commit_past(stack: Stack, settings: Settings, positions: list[tuple[int, int]]) -> None:
    """Commit the (member-less) intake group's offsets past `positions`: acknowledged, never
    handled — what the poison-pill crash used to do."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.infra.kafka,
        group_id=settings.intake_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = {}
        for partition, offset in positions:
            tp = TopicPartition(settings.requests_topic, partition)
            offsets[tp] = max(offsets.get(tp, 0), offset + 1)
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def test_records_the_intake_skipped_are_redriven_and_reported(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, dlq: AIOKafkaConsumer
) -> None:
    """On a topic of its own, so the session's live intake cannot get to the records first;
    the re-driven workflow runs on the session's real worker."""
    suffix = secrets.token_hex(4)
    settings = stack.settings.model_copy(
        update={
            "requests_topic": f"dsr.requests.v1-reconcile-{suffix}",
            "intake_group": f"dsr-intake-reconcile-{suffix}",
        }
    )
    key_id, secret = next(iter(settings.signing_key_ring().items()))
    person = stack.fresh_customer()
    event = DsrRequestedEvent.model_validate(request_event("access", {"email": person.email}))
    good_id = event.data.request_id
    good = encode_request(event)
    bad_id = new_request_id()
    bad_doc = request_event("access", {"email": person.email}, request_id=bad_id)
    bad_doc["data"]["kind"] = "everything"
    bad = json.dumps(bad_doc).encode()
    positions = []
    for rid, value in ((good_id, good), (bad_id, bad)):
        meta = await producer.send_and_wait(
            settings.requests_topic,
            key=rid.encode(),
            value=value,
            headers=signature_headers(value, key_id, secret),
        )
        positions.append((meta.partition, meta.offset))
    await _commit_past(stack, settings, positions)

    store = await Store.open(stack.env["DSR_DATABASE_URL"])
    try:
        async with KafkaStatusPublisher(settings) as publisher:
            reconciler = Reconciler(settings, temporal, store, publisher)
            report = await ActivityEnvironment().run(
                reconciler.reconcile_requests, ReconcileInput()
            )
            assert report.examined == 2 and report.accounted == 0
            outcomes = {(r.partition, r.offset): r.outcome for r in report.redriven}
            assert outcomes == {positions[0]: "started", positions[1]: "dead_lettered"}
            assert {r.request_id for r in report.redriven} == {good_id, bad_id}

            assert (await completed(temporal, good_id)).status.value == "completed"
            letter = (await dead_letters_for(dlq, {bad_id.encode()}))[bad_id.encode()]
            assert dict(letter.headers)["dsr-dlq-reason"] == b"schema_violation"
            for rid in (good_id, bad_id):
                trail = await store.audit_trail(rid)
                assert any(
                    e.action is AuditAction.RECONCILED and e.actor == "reconciler" for e in trail
                ), rid

            # proven once, not again: the checkpoint moved past them, nothing is re-driven
            again = await ActivityEnvironment().run(reconciler.reconcile_requests, ReconcileInput())
            assert again.examined == 0 and again.redriven == []
            assert again.checkpoint == report.checkpoint
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


async def test_the_scheduled_workflow_runs_on_the_worker(stack: Stack, temporal: Client) -> None:
    """The schedule exists (the worker created it) and its workflow runs on the real worker."""
    schedule = await temporal.get_schedule_handle(SCHEDULE_ID).describe()
    assert schedule.id == SCHEDULE_ID
    report: ReconcileReport = await temporal.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(max_records=100_000),
        id=f"{reconcile_workflow_id(stack.settings)}/test-{uuid.uuid4().hex[:8]}",
        task_queue=stack.settings.orchestrator_task_queue,
    )
    assert report.examined == report.accounted + len(report.redriven)
