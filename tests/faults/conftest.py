"""The fault suite's own stack: real broker, Temporal, five sandboxes, worker and intake — and a
private PostgreSQL store — that the tests crash, freeze and restart by PID without disturbing
the rest of the session (tests/integration shares its stack with many tests).

Why a private PostgreSQL: restarting the machine's shared cluster would break everyone else's
tests and databases. initdb/postgres from /usr/lib/postgresql/<v>/bin run in a temp folder on a
free port, as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).

`make test` runs a short variant of every fault; `make faults` (DSR_FAULTS_LONG=1) the long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import random
import secrets
import shutil
import signal
import sqlite3
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from devstack.estate import HTTP_SYSTEMS, Estate
from devstack.localstack import (
    S3RVER,
    ManagedProcess,
    free_port,
    kafka_broker,
    port_open,
    s3_server,
    sandbox_server,
    temporal_dev_server,
    wait_until,
)
from orchestrator.store import Store
from orchestrator.temporal_client import connect_temporal
from schemas.records import AuditAction
from schemas.status import SystemStatus
from tests.conftest import Infra, wait_for_file_text
from tests.integration.conftest import CUSTOMERS, SEED, Stack

LONG = os.environ.get("DSR_FAULTS_LONG") == "1"
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault injection against real processes")


def report(name: str, *, faults: int, requests: int, lost: int, duplicated: int) -> None:
    """The figure every fault test prints (issue 8 §3)."""
    print(
        f"\n[{name}] faults injected = {faults}, requests = {requests}, "
        f"lost = {lost}, duplicated effects = {duplicated}"
    )


# ── a private PostgreSQL ───────────────────────────────────────────────────────────────────
class PrivatePostgres:
    """One PostgreSQL server of our own: crashed (SIGQUIT = immediate shutdown, recovery from
    WAL at the next start, as after a power cut) and restarted by the fault tests."""

    def __init__(self, logs: Path) -> None:
        if PG_BIN is None:
            pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
        self.bin = PG_BIN
        # Its own folder directly under /tmp: pytest's folders are private to root, and the
        # server runs as `postgres` when we are root.
        self.root = Path(tempfile.mkdtemp(prefix="dsr-faults-pg-"))
        self.data = self.root / "pgdata"
        self.logs = logs
        self.port = free_port()
        self.as_user = "postgres" if os.geteuid() == 0 else None
        self.process: ManagedProcess | None = None
        if self.as_user is not None:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip

    def _argv(self, *argv: str) -> list[str]:
        if self.as_user is None:
            return list(argv)
        return ["setpriv", f"--reuid={self.as_user}", f"--regid={self.as_user}",
                "--clear-groups", *argv]  # fmt: skip

    def _run(self, *argv: str) -> None:
        subprocess.run(self._argv(*argv), check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/dsr_faults"

    def start(self) -> None:
        self.process = ManagedProcess(
            "postgres",
            self._argv(
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ),
            self.logs / "postgres.log",
        ).start()
        process = self.process
        wait_until(lambda: process.ensure_alive() and port_open(self.port), 60, "PostgreSQL")
        wait_until(self._accepts, 60, "PostgreSQL accepting connections", interval=0.2)

    def _accepts(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def create_database(self) -> None:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "dsr_faults")  # fmt: skip

    def crash(self) -> None:
        """Immediate shutdown (SIGQUIT): no checkpoint, clients cut off mid-transaction."""
        assert self.process is not None and self.process.process is not None
        self.process.process.send_signal(signal.SIGQUIT)
        self.process.process.wait(60)
        wait_until(lambda: not port_open(self.port), 30, "PostgreSQL down")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


# ── the fault stack ────────────────────────────────────────────────────────────────────────
@dataclass
class FaultStack(Stack):
    """The integration Stack's helpers, plus handles on everything a test may break."""

    estate: Estate | None = None
    servers: dict[str, ManagedProcess] | None = None
    postgres: PrivatePostgres | None = None
    temporal_client: Client | None = None
    broker_env: dict[str, str] | None = None  # set when the broker persists (s3 engine)

    def restart_broker(self) -> None:
        """kill -9 the broker and start it again on the same port and storage."""
        assert self.broker_env is not None, "an in-memory broker loses everything on restart"
        self.infra.broker.kill()
        self.infra.broker = kafka_broker(
            self.infra.kafka_port,
            self.root / "logs",
            storage_engine="s3://tansu/",
            env=self.broker_env,
        )

    def restart_server(self, system: str, **options: str) -> None:
        """Stop one HTTP sandbox and start it again on the same port (options: e.g. a rate
        limit for a 429 storm)."""
        assert self.estate is not None and self.servers is not None
        self.servers[system].stop()
        self.servers[system] = sandbox_server(
            system,
            self.estate.ports[system],
            self.estate.database_urls[system],
            self.root / "logs",
            {**self.estate.server_options(system), **options},
        )

    def kill_server(self, system: str) -> None:
        assert self.servers is not None
        self.servers[system].kill()

    def sqlite_path(self, system: str) -> str:
        assert self.estate is not None
        return self.estate.database_urls[system].removeprefix("sqlite+aiosqlite:///")

    async def store(self) -> Store:
        return await Store.open(self.env["DSR_DATABASE_URL"], migrate=False)


@pytest.fixture(scope="session")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    root = tmp_path_factory.mktemp("faults")
    logs = root / "logs"
    postgres = PrivatePostgres(logs)
    postgres.start()
    kafka_port, temporal_port = free_port(), free_port()
    # The broker persists (tansu's s3 engine on s3rver) so it can be restarted with events in
    # flight; without s3rver (`make` installs it) it runs in memory and that one test skips.
    s3: ManagedProcess | None = None
    if S3RVER.exists():
        s3, s3_env = s3_server(free_port(), root / "s3", logs, bucket="tansu")
        broker = kafka_broker(kafka_port, logs, storage_engine="s3://tansu/", env=s3_env)
    else:
        s3_env = None
        broker = kafka_broker(kafka_port, logs)
    temporal = temporal_dev_server(temporal_port, root / "temporal.db", logs)
    infra = Infra(root, kafka_port, temporal_port, temporal, broker)
    servers: dict[str, ManagedProcess] = {}
    stack: FaultStack | None = None
    try:
        postgres.create_database()
        estate = Estate(root / "sandbox")
        summaries = asyncio.run(estate.seed(CUSTOMERS, SEED))
        servers = dict(zip(HTTP_SYSTEMS, estate.start_servers(logs), strict=True))
        env = infra.env(
            DSR_DATABASE_URL=postgres.url,
            DSR_PACKAGE_DIR=str(root / "packages"),
            DSR_INTAKE_DATADIR=str(root / "intake-data"),
            DSR_INTAKE_GROUP=f"dsr-intake-{secrets.token_hex(4)}",
            # A loaded two-core machine stalls processes for seconds: a 3 s heartbeat timeout
            # would turn load into retries and retries into more load.
            DSR_ACTIVITY_HEARTBEAT_TIMEOUT="15",
            # "Slow past its timeouts" should not take the connector's production 10 s.
            DSR_NEWSLETTER_TIMEOUT="3",
            DSR_NEWSLETTER_CONNECT_TIMEOUT="2",
            **estate.connector_env(),
        )
        asyncio.run(_migrate(postgres.url))
        stack = FaultStack(
            infra, root, env, None, None, summaries["billing"],  # type: ignore[arg-type]
            estate=estate, servers=servers, postgres=postgres, broker_env=s3_env,
        )  # fmt: skip
        stack.worker = stack.process("worker").start()
        stack.intake = stack.process("intake").start()
        # Faults are injected into a running system, not into one still starting up.
        wait_for_file_text(logs / "worker.log", "workers started", timeout=180)
        yield stack
    finally:
        if stack is not None:
            for process in (stack.intake, stack.worker):
                if process is not None:
                    process.stop()
        for server in servers.values():
            server.stop()
        infra.temporal.stop()
        infra.broker.stop()
        if s3 is not None:
            s3.stop()
        postgres.stop()


async def _migrate(url: str) -> None:
    store = await Store.open(url)
    await store.close()


@pytest.fixture(scope="session")
async def fault_temporal(fault_stack: FaultStack) -> Client:
    return await connect_temporal(fault_stack.settings)


@pytest.fixture(scope="session")
async def fault_producer(fault_stack: FaultStack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=fault_stack.infra.kafka, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
def rng() -> random.Random:
    """Random fault timing, reproducible: the seed is printed with the test's figures."""
    seed = int(os.environ.get("DSR_FAULTS_SEED", secrets.randbelow(2**32)))
    print(f"\nDSR_FAULTS_SEED={seed}")
    return random.Random(seed)


# ── helpers for holding work in flight ─────────────────────────────────────────────────────
@contextlib.contextmanager
def sqlite_write_locks(paths: Sequence[str]) -> Iterator[None]:
    """Hold the write lock of each SQLite database: readers (locate) proceed, every writer
    (erase) waits or fails busy — a locked or slow system, as happens in production."""
    connections = []
    try:
        for path in paths:
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.execute("BEGIN IMMEDIATE")
            connections.append(db)
        yield
    finally:
        for db in connections:
            db.execute("ROLLBACK")
            db.close()


async def recorded(stack: FaultStack, request_ids: Sequence[str]) -> int:
    """How many of `request_ids` have their completion record in the store (retrying while
    the store itself is being restarted)."""
    while True:
        try:
            store = await stack.store()
            try:
                found = [await store.get_completion_record(rid) for rid in request_ids]
            finally:
                await store.close()
            return sum(record is not None for record in found)
        except (OSError, SQLAlchemyError):
            await asyncio.sleep(0.2)


async def wait_recorded(
    stack: FaultStack, request_ids: Sequence[str], at_least: int, timeout: float = 300
) -> None:
    async with asyncio.timeout(timeout):
        while await recorded(stack, request_ids) < at_least:  # noqa: ASYNC110 - polling the store
            await asyncio.sleep(0.3)


async def audit_actions(stack: FaultStack, request_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each request's audit actions in order; the whole hash chain is verified on the way."""
    store = await stack.store()
    try:
        await store.verify_audit_chain()  # raises at the first broken link
        return {rid: [str(e.action) for e in await store.audit_trail(rid)] for rid in request_ids}
    finally:
        await store.close()


_ONCE = (AuditAction.REQUEST_ACCEPTED, AuditAction.COMPLETION_RECORDED)


def duplicated_effects(trails: dict[str, list[str]]) -> int:
    """Entries that must exist once per request (accepted, completion recorded), beyond one."""
    return sum(max(0, actions.count(a) - 1) for actions in trails.values() for a in _ONCE)


def lost_audit(trails: dict[str, list[str]]) -> int:
    """Entries missing: acceptance, at least one status change, the completion record."""
    lost = 0
    for actions in trails.values():
        lost += sum(a not in actions for a in _ONCE)
        lost += AuditAction.STATUS_CHANGED not in actions
    return lost


def retained_count(system: SystemStatus, category: str) -> int:
    return sum(item.count for item in system.retained if item.category == category)
