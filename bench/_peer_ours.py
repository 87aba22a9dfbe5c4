"""Our half of `bench/peer_fides.py`: the real stack on the same work as Fides.

One system (billing, `DSR_CONNECTORS=billing`) holding the same 10,000 customers — the same
e-mails `user1@example.com` ... `user10000@example.com` as Fides' `seed_customers.sql` — on the
same PostgreSQL server (127.0.0.1:5432), and the real processes: tansu broker, Temporal dev
server, worker, intake, with the store on that PostgreSQL too (Fides keeps its own state there).
Requests go in as the portal sends them (signed events on Kafka) and count as done when their
`completed` status event is on `dsr.status.v1`, as the portal sees it.

Seeding: the billing sandbox's own generator (`seed_billing`, 10,000 customers: invoices,
payments, card tokens, login sessions per customer), then every row's e-mail is set to
`user<id>@example.com`, so row k is Fides' customer k, and the few rows the generator makes
"anonymised years ago" get their contact data back (Fides' customers are all live), and every
row is a private customer whose services have ended (`closed`: Fides erases whatever runs,
ours keeps a running contract's row), so each erasure anonymises its row on both sides.
Bench-side on purpose: the sandbox's seeding stays as it is for everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench._peer_procs import GroupFigures, Sampler, postgres_group, postmaster_pid, tree_group
from bench.stack import stack_env
from devstack.localstack import ManagedProcess, free_port, kafka_broker, temporal_dev_server
from orchestrator.publish import encode_request
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from schemas.events import DsrRequestedEvent

__all__ = ["OurBatch", "OurStack"]

ROOT = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PG_DATA_DIR = Path("/var/lib/postgresql/15/main")
SEED = 7


@dataclass
class OurBatch:
    kind: str
    n: int
    completed: int
    requests_per_min: float | None
    wall_s: float
    p50_latency_s: float | None
    groups: dict[str, GroupFigures]
    peak_pss_mib: float
    statuses: dict[str, int]
    verified: str = ""


def _event(kind: str, request_id: str, email: str) -> DsrRequestedEvent:
    now = datetime.now(UTC).isoformat()
    return DsrRequestedEvent.model_validate(
        {
            "specversion": "1.0",
            "id": secrets.token_hex(8),
            "source": "urn:bench:peer",
            "type": "dsr.requested.v1",
            "time": now,
            "datacontenttype": "application/json",
            "data": {
                "request_id": request_id,
                "kind": kind,
                "received_at": now,
                "channel": "portal",
                "subject": {"email": email},
                "verification": {"method": "portal_login", "verified_at": now},
            },
        }
    )


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _revive_anonymised(conn: asyncpg.Connection) -> int:
    """Every Fides customer is a live person with contact data; the generator makes about 5 %
    of billing's rows customers anonymised years ago (only invoices left). Give those rows their
    generated contact data back and make them active, so all 10,000 are findable and erasable
    like Fides' — the same work on both sides."""
    from sandbox.people import customer_at

    ids = [
        r["id"] for r in await conn.fetch("select id from customers where status = 'anonymised'")
    ]
    rows = []
    for row_id in ids:
        c = customer_at(row_id - 1, SEED)  # row id = generator index + 1 (sandbox.billing.seed)
        rows.append(
            (row_id, c.name, c.contact_name, c.phone, c.personal_identity_number,
             c.organisation_number, c.street, c.postcode, c.city)
        )  # fmt: skip
    await conn.executemany(
        "update customers set name = $2, contact_name = $3, phone = $4,"
        " personal_identity_number = $5, organisation_number = $6, street = $7, postcode = $8,"
        " city = $9, status = 'active', closed_at = null, anonymised_at = null where id = $1",
        rows,
    )
    return len(rows)


class OurStack:
    """Databases, seeding, processes and batches of our side; `close()` removes everything."""

    def __init__(self, root: Path, customers: int) -> None:
        self.root = root
        self.logs = root / "logs"
        self.customers = customers
        tag = secrets.token_hex(4)
        self.databases = (f"dsr_peer_billing_{tag}", f"dsr_peer_store_{tag}")
        self.procs: dict[str, ManagedProcess] = {}
        self.env: dict[str, str] = {}
        self._created: list[str] = []

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"

    async def prepare(self) -> float:
        """Create both databases, seed billing, migrate the store; returns seconds taken."""
        from orchestrator.store import Store
        from sandbox.billing.seed import seed_billing

        started = time.perf_counter()
        for name in self.databases:
            await _admin(f'CREATE DATABASE "{name}"')
            self._created.append(name)
        billing, store = (self.url(n) for n in self.databases)
        await seed_billing(billing, self.customers, SEED)
        conn = await asyncpg.connect(database=self.databases[0], **PG)
        try:
            await _revive_anonymised(conn)
            await conn.execute("update customers set email = 'user' || id || '@example.com'")
            # Fides erases a customer whatever runs: ours keeps an active customer's row and
            # cards while its services run (policy: while_contract). The same work on both
            # sides: customers whose services have ended (and persons: a company's row keeps
            # the company's details), so every erasure anonymises its row.
            await conn.execute(
                "update customers set status = 'closed', closed_at = now(), kind = 'person',"
                " contact_name = null where status = 'active'"
            )
            await conn.execute("vacuum analyze")
        finally:
            await conn.close()
        async with await Store.open(store):
            pass  # migrations applied once, before two processes could race to apply them
        return time.perf_counter() - started

    def start(self) -> None:
        kafka_port, temporal_port = free_port(), free_port()
        self.procs["broker"] = kafka_broker(kafka_port, self.logs)
        self.procs["temporal"] = temporal_dev_server(
            temporal_port, self.root / "temporal.db", self.logs
        )
        self.env = {
            **stack_env(self.root, kafka_port, temporal_port),
            "DSR_DATABASE_URL": self.url(self.databases[1]),
            "DSR_CONNECTORS": "billing",
            "DSR_BILLING_DATABASE_URL": self.url(self.databases[0]),
        }
        for name in ("worker", "intake"):
            self.procs[name] = ManagedProcess(
                name,
                [sys.executable, "-m", "orchestrator.cli", name],
                self.logs / f"{name}.log",
                env=self.env,
                cwd=self.root,
            ).start()

    @property
    def settings(self) -> Settings:
        values: dict[str, Any] = {k.removeprefix("DSR_").lower(): v for k, v in self.env.items()}
        values.pop("env_file", None)
        return Settings(**values)

    def sampler(self) -> Sampler:
        groups = {
            name: tree_group(proc.pid)
            for name, proc in self.procs.items()
            if proc.pid is not None and proc.alive
        }
        groups["postgres"] = postgres_group(postmaster_pid(PG_DATA_DIR), self.databases)
        return Sampler(groups)

    async def batch(self, kind: str, emails: list[str], wait_s: float) -> OurBatch:
        """Send one request per e-mail at once; wait until each has a terminal status."""
        settings = self.settings
        for proc in self.procs.values():
            proc.ensure_alive()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            metadata_max_age_ms=500,
        )
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        await consumer.start()
        await producer.start()
        consumer.subscribe([settings.status_topic])
        key_id, secret = next(iter(settings.signing_key_ring().items()))
        tag = secrets.token_hex(3)
        ids = {f"peer-{kind[:3]}-{tag}-{i}": email for i, email in enumerate(emails)}
        sent: dict[str, float] = {}
        done: dict[str, float] = {}
        last: dict[str, str] = {}
        terminal = {"completed", "denied", "cancelled", "needs_attention", "awaiting_decision"}

        async def send(request_id: str, email: str) -> None:
            value = encode_request(_event(kind, request_id, email))
            sent[request_id] = time.perf_counter()
            await producer.send_and_wait(
                settings.requests_topic,
                key=request_id.encode(),
                value=value,
                headers=signature_headers(value, key_id, secret),
            )

        async def watch() -> None:
            while len(done) < len(ids):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        rid = (record.key or b"").decode()
                        if rid not in ids or rid in done:
                            continue
                        status = json.loads(record.value)["data"]["status"]
                        last[rid] = status
                        if status in terminal:
                            done[rid] = time.perf_counter()

        sampler = self.sampler().start()
        started = time.perf_counter()
        try:
            watcher = asyncio.create_task(watch())
            await asyncio.gather(*(send(rid, email) for rid, email in ids.items()))
            with contextlib.suppress(TimeoutError):  # what did not finish counts as not done
                await asyncio.wait_for(watcher, wait_s)
        finally:
            groups = sampler.stop()
            await producer.stop()
            await consumer.stop()
        completed = [rid for rid in done if last.get(rid) == "completed"]
        wall = (
            (max(done[r] for r in completed) - started)
            if completed
            else time.perf_counter() - started
        )
        latencies = sorted(done[r] - sent[r] for r in completed)
        statuses: dict[str, int] = {}
        for rid in ids:
            statuses[last.get(rid, "none")] = statuses.get(last.get(rid, "none"), 0) + 1
        return OurBatch(
            kind=kind,
            n=len(ids),
            completed=len(completed),
            requests_per_min=round(len(completed) / wall * 60, 1) if completed else None,
            wall_s=round(wall, 2),
            p50_latency_s=round(latencies[len(latencies) // 2], 2) if latencies else None,
            groups=groups,
            peak_pss_mib=sampler.peak_total_pss_mib,
            statuses=statuses,
        )

    async def verify_erasure(self, emails: list[str]) -> str:
        """The billing connector anonymises the contact: no row may still carry the e-mail."""
        conn = await asyncpg.connect(database=self.databases[0], **PG)
        try:
            left = await conn.fetchval(
                "select count(*) from customers where lower(email) = any($1::text[])", emails
            )
        finally:
            await conn.close()
        return f"{len(emails) - left}/{len(emails)} erased"

    def stop(self) -> None:
        for name in ("intake", "worker", "temporal", "broker"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                proc.stop()

    async def drop_databases(self) -> None:
        for name in self._created:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()
