"""The store (PostgreSQL) crashed and restarted while requests are in flight: no completion
record and no audit entry is lost, and the hash chain still verifies."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from schemas.status import RequestStatus
from tests.faults.conftest import (
    LONG,
    FaultStack,
    audit_actions,
    duplicated_effects,
    lost_audit,
    recorded,
    report,
    wait_recorded,
)
from tests.integration.conftest import completed, publish_signed, request_event

pytestmark = [pytest.mark.integration, pytest.mark.faults]

REQUESTS = 20 if LONG else 8
CRASHES = 3 if LONG else 1


@pytest.mark.timeout(600)
async def test_store_crashed_and_restarted_mid_run(
    fault_stack: FaultStack,
    fault_temporal: Client,
    fault_producer: AIOKafkaProducer,
    rng: random.Random,
) -> None:
    postgres = fault_stack.postgres
    assert postgres is not None
    request_ids = [
        await publish_signed(
            fault_producer,
            fault_stack,
            request_event(
                "erasure",
                {"email": fault_stack.fresh_customer(needs=("contact", "invoices")).email},
                scope={"systems": ["billing"]},
            ),
        )
        for _ in range(REQUESTS)
    ]
    crash_points = sorted(rng.sample(range(0, REQUESTS // 2), CRASHES))
    print(f"store crashed after {crash_points} of {REQUESTS} completion records")
    for point in crash_points:
        await wait_recorded(fault_stack, request_ids, point)
        postgres.crash()  # immediate shutdown: connections cut mid-transaction
        down_for = rng.uniform(1.0, 4.0)  # an outage of random length, not a synchronisation
        await asyncio.sleep(down_for)
        postgres.start()

    records = await asyncio.gather(
        *(completed(fault_temporal, r, timeout=300) for r in request_ids)
    )
    assert [r.status for r in records] == [RequestStatus.COMPLETED] * REQUESTS
    stored = await recorded(fault_stack, request_ids)
    trails = await audit_actions(fault_stack, request_ids)  # verifies the whole chain too
    lost = (REQUESTS - stored) + lost_audit(trails)
    duplicated = duplicated_effects(trails)
    report("store crash", faults=CRASHES, requests=REQUESTS, lost=lost, duplicated=duplicated)
    assert lost == 0 and duplicated == 0
