"""The whole local stack for a benchmark, on free ports in a temporary folder: the broker, the
Temporal dev server, the five sandbox systems (seeded), the worker, the intake and — when
asked — the DPO's API; the store is SQLite, as in `dsr up`. The same code and settings as
`dsr up` and bench/e2e.py, so the figures describe what a developer runs.

Also the portal's side: signed access requests on `dsr.requests.v1`, and waiting for their
`completed` events on `dsr.status.v1` (no polling of Temporal).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import multiprocessing
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.estate import Estate
from devstack.localstack import (
    ManagedProcess,
    free_port,
    kafka_broker,
    s3_server,
    temporal_dev_server,
)
from devstack.up import BROKER_BUCKET
from orchestrator.publish import encode_request
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from schemas.events import DsrRequestedEvent

__all__ = [
    "API_TOKEN",
    "SEED_GROUPS",
    "BenchStack",
    "Portal",
    "access_event",
    "compile_bytecode",
    "seed_estate",
    "stack_env",
]

API_TOKEN = secrets.token_hex(16)  # the bench's own dpo token for its throwaway API


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


def stack_env(root: Path, kafka_port: int, temporal_port: int) -> dict[str, str]:
    """The settings every bench stack's services share: its broker and Temporal, fresh keys,
    its folders under `root`, quick consumer-group timings, quiet logs. Each bench adds its
    store and connectors."""
    return {
        "DSR_ENV_FILE": "/nonexistent",
        "DSR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "DSR_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "DSR_SIGNING_KEYS": f"bench:{secrets.token_hex(16)}",
        "DSR_PAYLOAD_KEYS": f"b1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        "DSR_SUBJECT_HASH_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DSR_PACKAGE_DIR": str(root / "packages"),
        "DSR_INTAKE_DATADIR": str(root / "intake-data"),
        "DSR_KAFKA_SESSION_TIMEOUT": "2.0",
        "DSR_KAFKA_HEARTBEAT_INTERVAL": "0.5",
        "DSR_KAFKA_REBALANCE_TIMEOUT": "2.0",
        "DSR_LOG_LEVEL": "WARNING",
    }


def compile_bytecode() -> None:
    """What `make up` does first (Makefile `compile`): Temporal's sandbox re-imports the
    workflow modules for every run, and with a stale .pyc (an edited file, and this machine sets
    PYTHONDONTWRITEBYTECODE) it compiles them from source each time — a tenth of the worker's
    CPU per request in a profile here, which no deployment pays."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "schemas", "policy", "workflows"],
        cwd=ROOT,
        check=True,
    )


# The estate's five seeders (what `Estate.seed` runs) in two processes, one per core, each
# group fed from one pass of the people generator (`seed_together`). Hosting, which also writes
# the home tree, and support cost about what the other three cost together: at 100,000
# customers the two groups took 157/153 s and 202/202 s (hosting with registrar instead was
# 10-20 s shorter than the rest).
SEED_GROUPS = (("hosting", "support"), ("billing", "newsletter", "registrar"))


def seed_estate(estate: Estate, customers: int, seed: int) -> dict[str, float]:
    """`Estate.seed` in two processes (`SEED_GROUPS`): the same databases and home tree.
    The seconds of each group, by its systems' names joined."""
    estate.root.mkdir(parents=True, exist_ok=True)
    options: dict[str, dict[str, Any]] = {
        "hosting": {"home_root": estate.home_root},
        "newsletter": {"blocklist_salt": estate.secrets["newsletter_salt"]},
    }
    spawn = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    with ProcessPoolExecutor(max_workers=len(SEED_GROUPS), mp_context=spawn) as pool:
        futures = {
            "+".join(group): pool.submit(
                _seed_group,
                [
                    (system, estate.database_urls[system], options.get(system, {}))
                    for system in group
                ],
                customers,
                seed,
            )
            for group in SEED_GROUPS
        }
        return {name: future.result() for name, future in futures.items()}


def _seed_group(systems: list[tuple[str, str, dict[str, Any]]], customers: int, seed: int) -> float:
    """In a worker process: the systems' seeders together; seconds until all are done."""
    from sandbox._seeding import seed_together
    from sandbox.billing.seed import seed_billing
    from sandbox.hosting.seed import seed_hosting
    from sandbox.newsletter.seed import seed_newsletter
    from sandbox.registrar.seed import seed_registrar
    from sandbox.support.seed import seed_support

    seeders: dict[str, Callable[..., Coroutine[Any, Any, Any]]] = {
        "billing": seed_billing,
        "registrar": seed_registrar,
        "hosting": seed_hosting,
        "newsletter": seed_newsletter,
        "support": seed_support,
    }
    started = time.perf_counter()
    asyncio.run(
        seed_together(
            [seeders[name](url, customers, seed, **extra) for name, url, extra in systems]
        )
    )
    return time.perf_counter() - started


class BenchStack:
    """Started by `start()`, stopped (every process, by its own handle) by `stop()`, which also
    removes its temporary folder unless `keep` (a 1M-customer estate is 25 GB; it held seeded
    people and packages that nobody reads after the run)."""

    def __init__(
        self,
        customers: int,
        *,
        seed: int = 3,
        api: bool = False,
        keep: bool = False,
        persistent_broker: bool = False,
    ) -> None:
        self.customers, self.seed, self.with_api, self.keep = customers, seed, api, keep
        # As `dsr up` runs it: tansu's s3 engine on s3rver (its records survive a restart).
        self.persistent_broker = persistent_broker
        self.root = Path(tempfile.mkdtemp(prefix="dsr-bench-"))
        self.logs = self.root / "logs"
        self.procs: list[ManagedProcess] = []
        self.api_port = free_port()
        self.seed_seconds = 0.0
        self.seed_times: dict[str, float] = {}  # per group of systems seeded together

    def start(self) -> BenchStack:
        compile_bytecode()
        kafka_port, temporal_port = free_port(), free_port()
        if self.persistent_broker:
            storage, storage_env = s3_server(
                free_port(), self.root / "broker", self.logs, BROKER_BUCKET
            )
            self.procs.append(storage)
            self.procs.append(
                kafka_broker(
                    kafka_port,
                    self.logs,
                    storage_engine=f"s3://{BROKER_BUCKET}/",
                    env=storage_env,
                )
            )
        else:
            self.procs.append(kafka_broker(kafka_port, self.logs))
        self.procs.append(temporal_dev_server(temporal_port, self.root / "temporal.db", self.logs))
        self.estate = Estate(self.root / "sandbox")
        started = time.perf_counter()
        self.seed_times = seed_estate(self.estate, self.customers, self.seed)
        self.seed_seconds = time.perf_counter() - started
        self.procs.extend(self.estate.start_servers(self.logs))
        digest = hashlib.sha256(API_TOKEN.encode()).hexdigest()
        self.env = {
            **stack_env(self.root, kafka_port, temporal_port),
            "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{self.root / 'dsr.db'}",
            "DSR_API_TOKENS": f"bench:dpo:{digest}",
            **self.estate.connector_env(),
        }
        self.settings = Settings(
            **{
                k.removeprefix("DSR_").lower(): v
                for k, v in self.env.items()
                if k != "DSR_ENV_FILE"
            }
        )
        commands = {"worker": ["worker"], "intake": ["intake"]}
        if self.with_api:
            commands["api"] = ["api", "--bind", f"127.0.0.1:{self.api_port}"]
        for name, argv in commands.items():
            self.procs.append(
                ManagedProcess(
                    name,
                    [sys.executable, "-m", "orchestrator.cli", *argv],
                    self.logs / f"{name}.log",
                    env=self.env,
                ).start()
            )
        return self

    def stop(self) -> None:
        for process in reversed(self.procs):
            process.stop()
        if self.keep:
            print(f"(logs and data kept in {self.root})")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def emails(self, needed: int) -> list[str]:
        """Distinct active subjects, one per request (a repeated access request waits for the
        DPO by design)."""
        from sandbox.billing.seed import seeded_customer

        found: list[str] = []
        for i in range(self.customers):
            customer = seeded_customer(i, self.seed).customer
            if customer.special is None and customer.status == "active":
                found.append(customer.email)
                if len(found) == needed:
                    return found
        raise SystemExit(f"{needed} distinct subjects needed, {len(found)} seeded: --customers")


class Portal:
    """Publishes signed access requests and waits for their `completed` status events."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key_id, self.secret = next(iter(settings.signing_key_ring().items()))

    async def __aenter__(self) -> Portal:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all"
        )
        await self.producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.producer.stop()

    async def send(self, request_id: str, email: str) -> None:
        value = encode_request(access_event(request_id, email))
        await self.producer.send_and_wait(
            self.settings.requests_topic,
            key=request_id.encode(),
            value=value,
            headers=signature_headers(value, self.key_id, self.secret),
        )

    async def burst(self, pairs: list[tuple[str, str]], within: float = 1800) -> float:
        """Send every (request id, e-mail) at once; seconds until all are completed."""
        start = time.perf_counter()
        waiting = asyncio.create_task(  # noqa: RUF006 - held here and awaited below
            self.completed({rid for rid, _ in pairs})
        )
        async with asyncio.timeout(within):
            await asyncio.gather(*(self.send(rid, email) for rid, email in pairs))
            await waiting
        return time.perf_counter() - start

    async def completed(self, ids: set[str]) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            metadata_max_age_ms=500,
        )
        await consumer.start()
        consumer.subscribe([self.settings.status_topic])
        pending = {i.encode() for i in ids}
        try:
            while pending:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        if record.key in pending and b'"status":"completed"' in record.value:
                            pending.discard(record.key)
        finally:
            await consumer.stop()
