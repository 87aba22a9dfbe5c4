"""`dsr worker` started while Temporal is unreachable: it waits (retrying with backoff, logging
no personal data) instead of exiting — under `dsr up` its exit stopped the whole stack — and
serves as soon as Temporal is up; SIGTERM while it waits stops it at once, cleanly. `dsr
intake` waits the same way (its agent crash-looped), and the event it holds becomes the
workflow once Temporal is up.

Each test has a Temporal server of its own on a port nothing listens on yet, so the fault
stack's own Temporal and worker are never touched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from devstack.localstack import ManagedProcess, free_port, temporal_dev_server, wait_until
from orchestrator.temporal_client import connect_temporal
from tests.faults.conftest import FaultStack, report
from tests.integration.conftest import publish_signed, request_event, wait_for_workflow

pytestmark = [pytest.mark.integration, pytest.mark.faults]

RETRYING = "temporal unreachable, retrying"


def _early_worker(stack: FaultStack, name: str, temporal_port: int) -> ManagedProcess:
    env = {
        **stack.env,
        "DSR_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "DSR_METRICS_BIND": f"127.0.0.1:{free_port()}",
    }
    argv = [sys.executable, "-m", "orchestrator.cli", "worker"]
    return ManagedProcess(name, argv, stack.root / "logs" / f"{name}.log", env=env).start()


def _retry_lines(log: Path) -> list[dict[str, Any]]:
    """The worker's own retry records (JSON lines): the error's type, never its text."""
    lines = []
    for raw in log.read_text(errors="replace").splitlines():
        if RETRYING in raw:
            line = json.loads(raw)
            assert line["error_type"] == "TemporalUnreachable" and "error" not in line, line
            lines.append(line)
    return lines


def _count(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text) if log.exists() else 0


@pytest.mark.timeout(180)
def test_worker_waits_for_temporal_then_serves(fault_stack: FaultStack) -> None:
    port = free_port()
    worker = _early_worker(fault_stack, "worker-before-temporal", port)
    log = worker.log_path
    temporal: ManagedProcess | None = None
    try:
        # Three refused attempts: it is retrying, not exiting (ensure_alive raises if it exited).
        wait_until(lambda: worker.ensure_alive() and _count(log, RETRYING) >= 3, 60, "retries")
        waits = [line["retry_in"] for line in _retry_lines(log)][:3]
        assert waits == sorted(waits) and waits[0] < waits[-1], waits  # backing off
        temporal = temporal_dev_server(port, fault_stack.root / "temporal-late.db", log.parent)
        wait_until(lambda: worker.ensure_alive() and "workers started" in log.read_text(), 90,
                   "the worker serving once Temporal is up")  # fmt: skip
        retries = _count(log, RETRYING)
        worker.stop(timeout=30)
        assert worker.process is not None and worker.process.returncode == 0
    finally:
        worker.stop()
        if temporal is not None:
            temporal.stop()
    report("temporal unreachable at worker start", faults=1, requests=0, lost=0, duplicated=0)
    print(f"connection attempts refused before Temporal came up: {retries}")


@pytest.mark.timeout(120)
def test_worker_waiting_for_temporal_stops_on_sigterm(fault_stack: FaultStack) -> None:
    worker = _early_worker(fault_stack, "worker-never-temporal", free_port())
    log = worker.log_path
    try:
        wait_until(lambda: worker.ensure_alive() and _count(log, RETRYING) >= 1, 60, "a retry")
        began = time.monotonic()
        worker.stop(timeout=30)  # past it: SIGKILL, and the exit status below is not 0
        took = time.monotonic() - began
        assert worker.process is not None and worker.process.returncode == 0
        assert "workers stopped before Temporal was reachable" in log.read_text()
    finally:
        worker.stop()
    report("temporal never reachable, SIGTERM", faults=1, requests=0, lost=0, duplicated=0)
    print(f"stopped {took:.2f}s after SIGTERM while waiting for Temporal")


@pytest.mark.timeout(180)
async def test_intake_waits_for_temporal_then_starts_the_workflow(
    fault_stack: FaultStack, fault_producer: AIOKafkaProducer
) -> None:
    port = free_port()
    name = f"faults-early-{secrets.token_hex(4)}"  # its own topic and group: nobody else's
    own = dataclasses.replace(
        fault_stack,
        env={
            **fault_stack.env,
            "DSR_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "DSR_METRICS_BIND": f"127.0.0.1:{free_port()}",
            "DSR_REQUESTS_TOPIC": name,
            "DSR_DLQ_TOPIC": f"{name}.dlq",
            "DSR_INTAKE_GROUP": name,
            "DSR_INTAKE_DATADIR": str(fault_stack.root / name),
        },
    )
    log = fault_stack.root / "logs" / "intake-before-temporal.log"
    argv = [sys.executable, "-m", "orchestrator.cli", "intake"]
    intake = ManagedProcess("intake-before-temporal", argv, log, env=own.env).start()
    temporal: ManagedProcess | None = None
    try:
        await asyncio.to_thread(
            wait_until, lambda: intake.ensure_alive() and _count(log, RETRYING) >= 2, 90, "retries"
        )
        document = request_event("access", {"email": fault_stack.fresh_customer().email})
        request_id = await publish_signed(fault_producer, own, document)
        temporal = await asyncio.to_thread(
            temporal_dev_server, port, fault_stack.root / f"{name}.db", log.parent
        )
        client = await connect_temporal(own.settings)
        handle = await wait_for_workflow(client, request_id, timeout=90)
        assert (await handle.describe()).id.endswith(request_id)
        retries = _count(log, RETRYING)
        assert "event unprocessable" not in log.read_text() and intake.alive
    finally:
        intake.stop()
        if temporal is not None:
            temporal.stop()
    report("temporal unreachable at intake start", faults=1, requests=1, lost=0, duplicated=0)
    print(f"intake connection attempts refused before Temporal came up: {retries}")
