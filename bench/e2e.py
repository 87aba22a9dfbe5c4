"""End-to-end throughput and latency of the spine, against the floor this machine allows.

    .venv/bin/python bench/e2e.py [--requests 100] [--customers 2000]

Starts its own broker, Temporal dev server, the five sandbox systems, worker and intake (the
same code as `dsr up`), then measures:
  1. the floor: N no-op workflows of the same activity shape, started directly on Temporal;
  2. the spine: N signed access requests through Kafka to completed records;
  3. one request end to end on the idle stack (median of several).
Prints requests/s for both, their ratio (target >= 0.7) and the single-request latency (< 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.localstack import (
    ManagedProcess,
    free_port,
    kafka_broker,
    temporal_dev_server,
)
from orchestrator.publish import encode_request
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from orchestrator.temporal_client import connect_temporal
from schemas.events import DsrRequestedEvent
from schemas.records import CompletionRecord
from schemas.workflow import workflow_id_for


def access_event(request_id: str, email: str) -> DsrRequestedEvent:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return DsrRequestedEvent.model_validate(
        {
            "specversion": "1.0",
            "id": secrets.token_hex(8),
            "source": "urn:bench",
            "type": "dsr.requested.v1",
            "time": now,
            "datacontenttype": "application/json",
            "data": {
                "request_id": request_id,
                "kind": "access",
                "received_at": now,
                "channel": "portal",
                "subject": {"email": email},
                "verification": {"method": "portal_login", "verified_at": now},
            },
        }
    )


async def wait_started_then_result(client: Client, request_id: str) -> CompletionRecord:
    """For a single request: poll until the intake has started it, then await its result."""
    handle = client.get_workflow_handle(workflow_id_for(request_id), result_type=CompletionRecord)
    while True:
        try:
            return await handle.result()
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.01)


async def completed_on_status_topic(settings: Settings, ids: set[str]) -> None:
    """Wait as the portal does: until every request's `completed` event is on dsr.status.v1
    (no polling of Temporal, so the measurement does not load the server it measures)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,
    )
    await consumer.start()
    consumer.subscribe([settings.status_topic])
    pending = {i.encode() for i in ids}
    try:
        while pending:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if record.key in pending and b'"status":"completed"' in record.value:
                        pending.discard(record.key)
    finally:
        await consumer.stop()


async def floor(
    address: str, n: int, connectors: int, procs: list[ManagedProcess]
) -> tuple[float, dict[str, float]]:
    client = await Client.connect(address)
    # warm-up
    await client.execute_workflow(
        "NoopShape", connectors, id=f"noop-warm-{secrets.token_hex(4)}", task_queue="bench-noop"
    )
    before = cpu_snapshot(procs)
    start = time.perf_counter()
    handles = [
        await client.start_workflow(
            "NoopShape", connectors, id=f"noop-{i}-{secrets.token_hex(4)}", task_queue="bench-noop"
        )
        for i in range(n)
    ]
    await asyncio.gather(*(h.result() for h in handles))
    rate = n / (time.perf_counter() - start)
    after = cpu_snapshot(procs)
    return rate, {k: (after[k] - before[k]) / n for k in after if k in before}


async def spine(
    settings: Settings, emails: list[str], n: int, procs: list[ManagedProcess]
) -> tuple[float, list[float], dict[str, float]]:
    client = await connect_temporal(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    key_id, secret = next(iter(settings.signing_key_ring().items()))

    async def send(request_id: str, email: str) -> None:
        value = encode_request(access_event(request_id, email))
        await producer.send_and_wait(
            settings.requests_topic,
            key=request_id.encode(),
            value=value,
            headers=signature_headers(value, key_id, secret),
        )

    try:
        # warm-up (consumer group join, first workflow task)
        warm = f"bench-warm-{secrets.token_hex(4)}"
        await send(warm, emails[0])
        await wait_started_then_result(client, warm)

        latencies = []
        for i in range(5):
            rid = f"bench-lat-{i}-{secrets.token_hex(4)}"
            t0 = time.perf_counter()
            await send(rid, emails[1 + i])
            await wait_started_then_result(client, rid)
            latencies.append(time.perf_counter() - t0)

        # One subject per request: a second access request of the same subject within 12 months
        # waits for the DPO's decision (the policy's one free copy a year), by design.
        if n > len(emails) - 6:
            raise SystemExit(f"--requests at most {len(emails) - 6} (distinct subjects)")
        ids = [f"bench-{i}-{secrets.token_hex(4)}" for i in range(n)]
        before = cpu_snapshot(procs)
        start = time.perf_counter()
        waiting = asyncio.create_task(completed_on_status_topic(settings, set(ids)))
        await asyncio.gather(*(send(rid, emails[6 + i]) for i, rid in enumerate(ids)))
        await waiting
        rate = n / (time.perf_counter() - start)
        after = cpu_snapshot(procs)
        return rate, latencies, {k: (after[k] - before[k]) / n for k in after if k in before}
    finally:
        await producer.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(procs: list[ManagedProcess]) -> dict[str, float]:
    return {p.name: cpu_seconds(p.process.pid) for p in procs if p.process is not None and p.alive}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()

    from devstack.estate import SYSTEMS, Estate
    from sandbox.billing.seed import seeded_customer

    root = Path(tempfile.mkdtemp(prefix="dsr-bench-"))
    logs = root / "logs"
    kafka_port, temporal_port = free_port(), free_port()
    procs: list[ManagedProcess] = []
    try:
        procs.append(kafka_broker(kafka_port, logs))
        procs.append(temporal_dev_server(temporal_port, root / "temporal.db", logs))
        estate = Estate(root / "sandbox")
        summaries = asyncio.run(estate.seed(args.customers, 3))
        print(f"seeded {summaries['billing'].customers} customers into the five systems")
        procs.extend(estate.start_servers(logs))
        emails = [
            c.customer.email
            for c in (seeded_customer(i, 3) for i in range(min(args.customers, 500)))
            if c.customer.special is None and c.customer.status == "active"
        ]
        env = {
            "DSR_ENV_FILE": "/nonexistent",
            "DSR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
            "DSR_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            "DSR_SIGNING_KEYS": f"bench:{secrets.token_hex(16)}",
            "DSR_PAYLOAD_KEYS": f"b1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
            "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'dsr.db'}",
            "DSR_PACKAGE_DIR": str(root / "packages"),
            "DSR_INTAKE_DATADIR": str(root / "intake-data"),
            "DSR_KAFKA_SESSION_TIMEOUT": "2.0",
            "DSR_KAFKA_HEARTBEAT_INTERVAL": "0.5",
            "DSR_KAFKA_REBALANCE_TIMEOUT": "2.0",
            "DSR_LOG_LEVEL": "WARNING",
            **estate.connector_env(),
        }
        settings = Settings(
            **{k.removeprefix("DSR_").lower(): v for k, v in env.items() if k != "DSR_ENV_FILE"}
        )
        address = f"127.0.0.1:{temporal_port}"

        noop = ManagedProcess(
            "noop-worker",
            [sys.executable, str(ROOT / "bench" / "noop_shape.py"), address],
            logs / "noop.log",
        ).start()
        procs.append(noop)
        connectors = len(SYSTEMS)  # the floor has the same fan-out as the real workflow
        floor_rate, floor_cpu = asyncio.run(floor(address, args.requests, connectors, procs))
        noop.stop()

        for name in ("worker", "intake"):
            procs.append(
                ManagedProcess(
                    name,
                    [sys.executable, "-m", "orchestrator.cli", name],
                    logs / f"{name}.log",
                    env=env,
                ).start()
            )
        spine_rate, latencies, cpu = asyncio.run(spine(settings, emails, args.requests, procs))

        print(
            f"requests:                    {args.requests} "
            f"(five sandbox systems, {args.customers} customers)"
        )
        print(f"floor (no-op, same shape):   {floor_rate:6.1f} workflows/s")
        print(f"spine (Kafka → completed):   {spine_rate:6.1f} requests/s")
        print(f"ratio:                       {spine_rate / floor_rate:6.2f}  (target >= 0.70)")
        print(
            "floor CPU per workflow (ms): "
            + ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in floor_cpu.items())
        )
        print(
            "spine CPU per request (ms):  "
            + ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in cpu.items())
        )
        print(
            f"one request end to end:      median {statistics.median(latencies):.3f} s, "
            f"max {max(latencies):.3f} s  (target < 2 s)"
        )
    finally:
        for p in reversed(procs):
            p.stop()


if __name__ == "__main__":
    main()
