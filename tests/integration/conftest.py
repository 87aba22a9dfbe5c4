"""The running orchestrator for integration tests: real worker and intake processes against the
session broker and Temporal server, a seeded sandbox billing database and a SQLite store."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from devstack.estate import Estate
from devstack.localstack import ManagedProcess, free_port
from orchestrator.publish import encode_request
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from orchestrator.temporal_client import connect_temporal
from sandbox.people import BLOCK_SIZE, Customer
from sandbox.presence import EVERYWHERE_SLOTS
from schemas.events import DsrRequestedEvent
from schemas.records import CompletionRecord, RequestSummary
from schemas.status import RequestStatus
from schemas.workflow import workflow_id_for
from tests.conftest import Infra
from workflows.dsr import DsrWorkflow

# The slots of every block holding the household pair (sandbox.people), present everywhere.
SHARED_EMAIL_SLOTS = frozenset({30, 31})
# Twenty blocks: enough fresh persons present in all five systems (20) for every test.
CUSTOMERS = 1000
SEED = 7


@dataclass
class Stack:
    infra: Infra
    root: Path
    env: dict[str, str]
    worker: ManagedProcess
    intake: ManagedProcess
    seed: Any
    used: set[int] = field(default_factory=set)
    # Each process's telemetry endpoint (DSR_METRICS_BIND, kept across restarts), scraped by
    # tests/telemetry.
    metrics_bind: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return Settings(
            **{
                k.removeprefix("DSR_").lower(): v
                for k, v in self.env.items()
                if k != "DSR_ENV_FILE"
            }
        )

    def process(self, name: str) -> ManagedProcess:
        return ManagedProcess(
            name,
            [sys.executable, "-m", "orchestrator.cli", name],
            self.root / "logs" / f"{name}.log",
            env={
                **self.env,
                "DSR_METRICS_BIND": self.metrics_bind.setdefault(name, f"127.0.0.1:{free_port()}"),
            },
        )

    def restart_worker(self, *, kill: bool) -> None:
        self.worker.kill() if kill else self.worker.stop()
        self.worker = self.process("worker").start()

    def fresh_customer(
        self,
        kind: str = "person",
        *,
        needs: tuple[str, ...] = ("contact",),
        everywhere: bool = False,
    ) -> Customer:
        """A seeded, active, unambiguous customer no other test has used yet, holding at least
        one billing record in each category of `needs` (so tests never interfere with each
        other). `everywhere`: one present in all five systems (see sandbox.presence); others
        are kept for the tests that need them."""
        from sandbox.billing.seed import seeded_customer

        for index in range(CUSTOMERS):
            if index in self.used or (index % BLOCK_SIZE in EVERYWHERE_SLOTS) != everywhere:
                continue
            seeded = seeded_customer(index, SEED)
            customer = seeded.customer
            if (
                str(customer.kind) == kind
                and customer.special is None
                and str(customer.status) == "active"
                and all(seeded.counts.get(c, 0) > 0 for c in needs)
            ):
                self.used.add(index)
                return customer
        raise LookupError(f"no unused seeded {kind} with {needs}: seed more customers")

    def fresh_shared_email_pair(self) -> tuple[Customer, Customer]:
        """Two people of one household sharing an e-mail address, both present in all five
        systems, that no other test has used (the seed's first pair is `seed.examples`')."""
        from sandbox.billing.seed import seeded_customer

        first_slot, second_slot = sorted(SHARED_EMAIL_SLOTS)
        for start in range(BLOCK_SIZE, CUSTOMERS, BLOCK_SIZE):
            indices = (start + first_slot, start + second_slot)
            if any(i in self.used for i in indices):
                continue
            first, second = (seeded_customer(i, SEED).customer for i in indices)
            assert first.special == second.special == "shared_email", "the seed's fixed slots"
            self.used.update(indices)
            return first, second
        raise LookupError("no unused shared-email pair: seed more customers")

    def log_text(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted((self.root / "logs").glob("*.log"))
        )


@pytest.fixture(scope="session")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """All five sandbox systems seeded from the same people, their servers, and the real
    worker and intake processes pointed at them."""
    root = tmp_path_factory.mktemp("stack")
    estate = Estate(root / "sandbox")
    summaries = asyncio.run(estate.seed(CUSTOMERS, SEED))
    servers = estate.start_servers(root / "logs")
    env = infra.env(
        DSR_DATABASE_URL=f"sqlite+aiosqlite:///{root / 'dsr.db'}",
        DSR_PACKAGE_DIR=str(root / "packages"),
        DSR_INTAKE_DATADIR=str(root / "intake-data"),
        DSR_INTAKE_GROUP=f"dsr-intake-{secrets.token_hex(4)}",
        # The worker signs and publishes audit checkpoints, as in production (orchestrator.audit).
        DSR_AUDIT_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        **estate.connector_env(),
    )
    stack = Stack(infra, root, env, None, None, summaries["billing"])  # type: ignore[arg-type]
    stack.worker = stack.process("worker").start()
    stack.intake = stack.process("intake").start()
    try:
        yield stack
    finally:
        stack.intake.stop()
        stack.worker.stop()
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
async def temporal(stack: Stack) -> Client:
    return await connect_temporal(stack.settings)


@pytest.fixture(scope="session")
async def producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.infra.kafka, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


def billing_db(stack: Stack) -> sqlite3.Connection:
    """A direct connection to the sandbox billing database, to check what really happened."""
    return sqlite3.connect(
        stack.env["DSR_BILLING_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    )


def new_request_id() -> str:
    return f"it-{secrets.token_hex(6)}"


def request_event(kind: str, subject: dict[str, Any], **data: Any) -> dict[str, Any]:
    """A valid `dsr.requested.v1` event as a plain document (tests mutate it to break it)."""
    now = datetime.now(UTC)
    return {
        "specversion": "1.0",
        "id": secrets.token_hex(16),
        "source": "urn:portal:test",
        "type": "dsr.requested.v1",
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "request_id": data.pop("request_id", new_request_id()),
            "kind": kind,
            "received_at": (now - timedelta(minutes=5)).isoformat(),
            "channel": "portal",
            "subject": subject,
            "verification": {"method": "portal_login", "verified_at": now.isoformat()},
            **data,
        },
    }


async def publish_raw(
    producer: AIOKafkaProducer,
    stack: Stack,
    value: bytes,
    *,
    key: bytes | None,
    headers: list[tuple[str, bytes]] | None = None,
) -> tuple[int, int]:
    """Publish as any producer may; returns where the record landed (partition, offset)."""
    sent = await producer.send_and_wait(
        stack.settings.requests_topic, key=key, value=value, headers=headers or []
    )
    return sent.partition, sent.offset


async def publish_signed(producer: AIOKafkaProducer, stack: Stack, document: dict[str, Any]) -> str:
    event = DsrRequestedEvent.model_validate(document)
    value = encode_request(event)
    key_id, secret = next(iter(stack.settings.signing_key_ring().items()))
    await publish_raw(
        producer,
        stack,
        value,
        key=event.data.request_id.encode(),
        headers=signature_headers(value, key_id, secret),
    )
    return event.data.request_id


async def wait_for_workflow(client: Client, request_id: str, timeout: float = 60) -> WorkflowHandle:
    """The intake starts the workflow asynchronously: await its existence, then return it."""
    handle = client.get_workflow_handle(workflow_id_for(request_id), result_type=CompletionRecord)
    async with asyncio.timeout(timeout):
        while True:
            try:
                await handle.describe()
                return handle
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                await asyncio.sleep(0.1)


async def status_becomes(
    handle: WorkflowHandle, status: RequestStatus, timeout: float = 60
) -> RequestSummary:
    """The workflow's own summary once it reaches `status` (polled through its query)."""
    async with asyncio.timeout(timeout):
        while True:
            summary = await handle.query(DsrWorkflow.status)
            if summary is not None and summary.status is status:
                return summary
            await asyncio.sleep(0.1)


async def completed(client: Client, request_id: str, timeout: float = 90) -> CompletionRecord:
    handle = await wait_for_workflow(client, request_id, timeout)
    async with asyncio.timeout(timeout):
        return await handle.result()


@contextlib.asynccontextmanager
async def topic_reader(stack: Stack, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer reading `topic` from its beginning (all partitions)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.infra.kafka,
        group_id=None,  # no group: every partition is assigned to this consumer
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,  # see a topic soon after it is declared
    )
    await consumer.start()
    consumer.subscribe([topic])
    try:
        yield consumer
    finally:
        await consumer.stop()


@pytest.fixture
async def dlq(stack: Stack) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer on the DLQ from its beginning; tests pick their own records by unique key.

    (Seeking to the end would rely on ListOffsets(latest), which the local broker understates.)
    """
    async with topic_reader(stack, stack.settings.dlq_topic) as consumer:
        yield consumer


async def dead_letters_at(
    consumer: AIOKafkaConsumer, positions: set[tuple[int, int]], timeout: float = 60
) -> dict[tuple[int, int], Any]:
    """Collect the DLQ records of the requests-topic records at `positions` (partition,
    offset), by their source headers: a letter of an unsigned record keeps no Kafka key."""
    found: dict[tuple[int, int], Any] = {}
    async with asyncio.timeout(timeout):
        while set(found) != positions:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    got = dict(record.headers)
                    where = (
                        int(got.get("dsr-dlq-source-partition", b"-1")),
                        int(got.get("dsr-dlq-source-offset", b"-1")),
                    )
                    if where in positions:
                        found[where] = record
    return found


async def dead_letters_for(
    consumer: AIOKafkaConsumer, keys: set[bytes], timeout: float = 60
) -> dict[bytes, Any]:
    """Collect the DLQ records whose Kafka key is one of `keys`, until all have arrived."""
    found: dict[bytes, Any] = {}
    async with asyncio.timeout(timeout):
        while set(found) != keys:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if record.key in keys:
                        found[record.key] = record
    return found
