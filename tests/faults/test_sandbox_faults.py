"""A system down for a while, slow past its timeouts, or answering with 429 storms: the
connector backs off, the request completes after recovery, and none fails."""

from __future__ import annotations

import asyncio
import signal

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from devstack.localstack import wait_until
from schemas.status import RequestStatus, SystemOutcome
from tests.faults.conftest import (
    LONG,
    FaultStack,
    attempts_seen,
    audit_actions,
    duplicated_effects,
    lost_audit,
    report,
)
from tests.integration.conftest import completed, publish_signed, request_event, wait_for_workflow

pytestmark = [pytest.mark.integration, pytest.mark.faults]

REQUESTS = 6 if LONG else 3


async def _requests(stack: FaultStack, producer: AIOKafkaProducer, system: str) -> list[str]:
    """Access requests limited to `system` (quick, no side effects to reason about)."""
    return [
        await publish_signed(
            producer,
            stack,
            request_event(
                "access", {"email": stack.fresh_customer().email}, scope={"systems": [system]}
            ),
        )
        for _ in range(REQUESTS)
    ]


async def _all_complete(
    stack: FaultStack, client: Client, request_ids: list[str], system: str
) -> tuple[int, int]:
    records = await asyncio.gather(*(completed(client, r, timeout=300) for r in request_ids))
    failed = [
        r.request_id
        for r in records
        if r.status is not RequestStatus.COMPLETED
        or any(s.outcome is SystemOutcome.FAILED for s in r.systems if s.system == system)
    ]
    assert failed == []
    trails = await audit_actions(stack, request_ids)
    return lost_audit(trails) + len(failed), duplicated_effects(trails)


@pytest.mark.timeout(600)
async def test_a_system_down_then_back(
    fault_stack: FaultStack, fault_temporal: Client, fault_producer: AIOKafkaProducer
) -> None:
    fault_stack.kill_server("registrar")  # kill -9: connection refused from now on
    try:
        request_ids = await _requests(fault_stack, fault_producer, "registrar")
        for request_id in request_ids:  # each has met the outage and is being retried
            handle = await wait_for_workflow(fault_temporal, request_id)
            await attempts_seen(handle, "connector.locate", 2)
    finally:
        fault_stack.restart_server("registrar")
    lost, duplicated = await _all_complete(fault_stack, fault_temporal, request_ids, "registrar")
    report("registrar down", faults=1, requests=REQUESTS, lost=lost, duplicated=duplicated)
    assert lost == 0 and duplicated == 0


@pytest.mark.timeout(600)
async def test_a_system_slow_past_its_timeouts(
    fault_stack: FaultStack, fault_temporal: Client, fault_producer: AIOKafkaProducer
) -> None:
    assert fault_stack.servers is not None
    server = fault_stack.servers["newsletter"].process
    assert server is not None
    server.send_signal(signal.SIGSTOP)  # accepts connections (the kernel does), never answers
    try:
        request_ids = await _requests(fault_stack, fault_producer, "newsletter")
        for request_id in request_ids:
            handle = await wait_for_workflow(fault_temporal, request_id)
            await attempts_seen(handle, "connector.locate", 2)
    finally:
        server.send_signal(signal.SIGCONT)
    lost, duplicated = await _all_complete(fault_stack, fault_temporal, request_ids, "newsletter")
    report("newsletter frozen", faults=1, requests=REQUESTS, lost=lost, duplicated=duplicated)
    assert lost == 0 and duplicated == 0


@pytest.mark.skipif(
    not LONG,
    reason="flaky in the full suite on 2 cores: the storm's first 429 answers were not seen "
    "within 120 s once; runs in `make faults`",
)
@pytest.mark.timeout(600)
async def test_a_429_storm(
    fault_stack: FaultStack, fault_temporal: Client, fault_producer: AIOKafkaProducer
) -> None:
    log = fault_stack.root / "logs" / "worker.log"

    def answered_429() -> int:
        return log.read_text(errors="replace").count(" 429 ")

    before = answered_429()
    # One request a second for the whole desk: every locate (several calls each) meets 429s,
    # until the storm passes (the rate limit is lifted) — then everything must complete.
    fault_stack.restart_server("support", rate_limit="1", rate_burst="1")
    try:
        request_ids = await _requests(fault_stack, fault_producer, "support")
        await asyncio.to_thread(
            wait_until, lambda: answered_429() - before >= 3 * REQUESTS, 120, "429 answers"
        )
    finally:
        fault_stack.restart_server("support")
    storms = answered_429() - before
    lost, duplicated = await _all_complete(fault_stack, fault_temporal, request_ids, "support")
    report("support 429 storm", faults=storms, requests=REQUESTS, lost=lost, duplicated=duplicated)
    assert lost == 0 and duplicated == 0
