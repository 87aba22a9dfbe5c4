"""Faults: the Temporal server killed and restarted mid-request, and a worker killed
mid-activity. In both, the request completes and nothing is lost.

A request is held in flight by a real write lock on the sandbox billing database (a slow or
locked system, as happens in production): the erase activity cannot finish until it is released.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowHandle

from schemas.status import RequestStatus, SystemOutcome
from tests.integration.conftest import (
    Stack,
    completed,
    publish_signed,
    request_event,
    wait_for_workflow,
)

pytestmark = pytest.mark.integration


@contextmanager
def billing_write_lock(stack: Stack) -> Iterator[None]:
    path = stack.env["DSR_BILLING_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("BEGIN IMMEDIATE")  # holds the write lock: every erase waits or fails busy
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


async def _erase_activity_started(handle: WorkflowHandle, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while True:
            description = await handle.describe()
            for pending in description.raw_description.pending_activities:
                if (
                    pending.activity_type.name == "connector.erase"
                    and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                ):
                    return
            await asyncio.sleep(0.1)


async def test_temporal_server_killed_and_restarted_mid_request(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer(needs=("contact", "invoices"))
    with billing_write_lock(stack):
        request_id = await publish_signed(
            producer, stack, request_event("erasure", {"email": person.email})
        )
        handle = await wait_for_workflow(temporal, request_id)
        await _erase_activity_started(handle)

        stack.infra.restart_temporal()  # kill -9, then start again on the same SQLite file

    record = await completed(temporal, request_id, timeout=120)
    assert record.status is RequestStatus.COMPLETED
    billing = next(s for s in record.systems if s.system == "billing")
    assert billing.outcome is SystemOutcome.RETAINED
    assert stack.intake.alive and stack.worker.alive


async def test_worker_killed_mid_activity_retries_and_completes(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer(needs=("contact", "invoices"))
    with billing_write_lock(stack):
        request_id = await publish_signed(
            producer, stack, request_event("erasure", {"email": person.email})
        )
        handle = await wait_for_workflow(temporal, request_id)
        await _erase_activity_started(handle)

        stack.restart_worker(kill=True)  # SIGKILL mid-activity; a fresh worker takes over

    record = await completed(temporal, request_id, timeout=120)
    assert record.status is RequestStatus.COMPLETED
    assert (
        next(s for s in record.systems if s.system == "billing").outcome is SystemOutcome.RETAINED
    )

    history = await handle.fetch_history()
    erase_attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(erase_attempts) >= 2, "the interrupted activity was retried"
