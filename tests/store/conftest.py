"""Fixtures for the store tests: every test that takes `database_url` (or `store`) runs twice,
against a SQLite file and against a fresh database on the local PostgreSQL.

PostgreSQL: `DSR_TEST_POSTGRES_URL` (default postgresql://postgres@127.0.0.1:5432/postgres, trust
auth, a superuser so tests can disable triggers to simulate tampering). The session's databases
are named after a random per-session prefix and dropped at the end, so concurrent test runs never
touch each other's data. If PostgreSQL is unreachable the postgres cases are skipped.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from orchestrator.store import Store, upgrade
from schemas.events import Channel, RequestKind, VerificationMethod
from schemas.records import AuditAction, AuditEvent, CompletionRecord, RequestSummary
from schemas.status import (
    ExportArtifact,
    RequestStatus,
    RetainedItem,
    RetentionReason,
    SystemOutcome,
    SystemStatus,
)

PG_ADMIN_URL = os.environ.get(
    "DSR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


class _Postgres:
    """This session's databases on the local PostgreSQL, all named `<prefix>_<n>`.

    Two databases: one migrated once, for the tests that need a store (its tables are emptied
    before each test), and one for the tests of the migrations (its schema is dropped and
    recreated before each test). Both are dropped at the end."""

    def __init__(self) -> None:
        self.prefix = f"dsr_store_test_{uuid.uuid4().hex[:10]}"
        self._names = itertools.count(1)
        self._admin: asyncpg.Connection | None = None
        self._unreachable: str | None = None
        self._shared: tuple[str, asyncpg.Connection] | None = None
        self._empty: tuple[str, asyncpg.Connection] | None = None

    async def admin(self) -> asyncpg.Connection:
        if self._unreachable is not None:
            pytest.skip(self._unreachable)
        if self._admin is None:
            try:
                self._admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
            except (OSError, asyncpg.PostgresError) as exc:
                self._unreachable = f"PostgreSQL at {PG_ADMIN_URL} not reachable: {exc}"
                pytest.skip(self._unreachable)
        return self._admin

    def url(self, name: str, driver: str = "postgresql+asyncpg") -> str:
        url = sa.make_url(PG_ADMIN_URL).set(drivername=driver, database=name)
        return url.render_as_string(hide_password=False)

    async def create(self) -> str:
        admin = await self.admin()
        name = f"{self.prefix}_{next(self._names)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        return name

    async def drop(self, name: str) -> None:
        admin = await self.admin()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def empty(self) -> str:
        """A database with nothing in it (the session's second database, its schema recreated)."""
        if self._empty is None:
            name = await self.create()
            self._empty = (name, await asyncpg.connect(self.url(name, "postgresql")))
        name, conn = self._empty
        async with conn.transaction():
            await conn.execute("DROP SCHEMA public CASCADE")
            await conn.execute("CREATE SCHEMA public")
        return self.url(name)

    async def shared(self) -> str:
        """The migrated database, emptied (the tables are truncated, triggers switched on)."""
        if self._shared is None:
            name = await self.create()
            await upgrade(self.url(name))
            self._shared = (name, await asyncpg.connect(self.url(name, "postgresql")))
        name, conn = self._shared
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
            await conn.execute(
                "TRUNCATE requests, request_system_outcomes, completion_records, audit_events"
                " RESTART IDENTITY"
            )
            await conn.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
        return self.url(name)

    async def close(self) -> None:
        for database in (self._shared, self._empty):
            if database is not None:
                await database[1].close()
        if self._admin is not None:
            leftovers = await self._admin.fetch(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", self.prefix
            )
            for row in leftovers:
                await self.drop(row["datname"])
            await self._admin.close()


@pytest.fixture(scope="session")
async def postgres() -> AsyncIterator[_Postgres]:
    pg = _Postgres()  # connects only when a postgres case runs
    yield pg
    await pg.close()


@pytest.fixture(params=BACKENDS)
async def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: _Postgres
) -> AsyncIterator[str]:
    """A database with nothing in it."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    else:
        yield await postgres.empty()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres: _Postgres) -> str:
    """A migrated database with empty tables."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        await upgrade(url)
        return url
    return await postgres.shared()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with await Store.open(database_url) as opened:
        yield opened


async def _disable_append_only(store: Store) -> None:
    async with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            await conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            await conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        else:
            await conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")


@pytest.fixture
def disable_append_only() -> Callable[[Store], Awaitable[None]]:
    """Bypass the append-only triggers, as someone with direct database access could."""
    return _disable_append_only


@pytest.fixture
def make_summary() -> Callable[..., RequestSummary]:
    def make(request_id: str = "req-0001", **changes: Any) -> RequestSummary:
        values: dict[str, Any] = {
            "request_id": request_id,
            "kind": RequestKind.ERASURE,
            "channel": Channel.PORTAL,
            "status": RequestStatus.IN_PROGRESS,
            "received_at": T0,
            "due_at": T0 + timedelta(days=30),
            "updated_at": T0 + timedelta(minutes=5),
            "systems": [
                SystemStatus(system="billing", outcome=SystemOutcome.RUNNING),
                SystemStatus(system="newsletter", outcome=SystemOutcome.DONE, counts={"subs": 2}),
            ],
        }
        values.update(changes)
        return RequestSummary(**values)

    return make


@pytest.fixture
def make_record() -> Callable[..., CompletionRecord]:
    def make(request_id: str = "req-0001", **changes: Any) -> CompletionRecord:
        values: dict[str, Any] = {
            "request_id": request_id,
            "kind": RequestKind.ERASURE,
            "channel": Channel.PORTAL,
            "status": RequestStatus.COMPLETED,
            "event_id": f"evt-{request_id}",
            "verification_method": VerificationMethod.BANKID,
            "received_at": T0,
            "due_at": T0 + timedelta(days=30),
            "completed_at": T0 + timedelta(days=2),
            "workflow_id": f"dsr-{request_id}",
            "workflow_run_id": "run-1",
            "systems": [
                SystemStatus(
                    system="billing",
                    outcome=SystemOutcome.RETAINED,
                    counts={"invoices": 12},
                    reason="bookkeeping",
                    retained=[
                        RetainedItem(
                            category="invoices",
                            count=12,
                            reason=RetentionReason.BOOKKEEPING,
                            until=date(2032, 12, 31),
                            legal_basis="Bokföringslagen 7 kap. 2 §",
                        )
                    ],
                ),
                SystemStatus(
                    system="hosting",
                    outcome=SystemOutcome.DONE,
                    counts={"accounts": 1},
                    export=ExportArtifact(
                        uri="file:///exports/x/hosting.json",
                        sha256="ab" * 32,
                        size_bytes=512,
                        records=3,
                    ),
                ),
            ],
        }
        values.update(changes)
        return CompletionRecord(**values)

    return make


@pytest.fixture
def make_event() -> Callable[..., AuditEvent]:
    counter = itertools.count(1)

    def make(request_id: str = "req-0001", **changes: Any) -> AuditEvent:
        n = next(counter)
        values: dict[str, Any] = {
            "request_id": request_id,
            "action": AuditAction.STATUS_CHANGED,
            "actor": "workflow",
            "at": T0 + timedelta(seconds=n),
            "details": {"n": n, "to": "in_progress", "note": "åäö ✓"},
            "dedupe_key": f"{request_id}:{n}",
        }
        values.update(changes)
        return AuditEvent(**values)

    return make
