"""Alembic migrations, run programmatically: no alembic.ini is needed at runtime.

The scripts live in `migrations/` inside this package. `upgrade()` runs them on one connection in
one transaction; concurrent upgrades (a worker and the CLI starting together) serialise on a
PostgreSQL advisory lock or SQLite's write lock, so the second one finds the schema at head.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.store._engine import create_engine, normalise_url, write_transaction
from orchestrator.store._errors import SchemaOutOfDate, StoreError

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "known_revisions",
    "upgrade",
    "upgrade_engine",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Our own version table, so the store can share a database with other Alembic-managed schemas.
VERSION_TABLE = "dsr_store_version"
# pg_advisory_xact_lock key held while migrating ("dsr-mig" as a 56-bit number).
MIGRATION_LOCK_KEY = 0x6473722D6D6967


def alembic_config(database_url: str | URL | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (for `alembic.command.*`).

    With a URL, env.py connects by itself; otherwise pass a sync connection in
    `config.attributes["connection"]` (as `upgrade_engine` does).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        url = normalise_url(database_url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@cache
def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


@cache
def known_revisions() -> frozenset[str]:
    """Every revision id this code's migrations define."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


def _current_sync(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _upgrade_sync(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


# Alembic keeps the running migration in module globals (`alembic.context`, `alembic.op`), so two
# migrations in one process must not overlap, whether on one event loop or on several threads.
_ALEMBIC_LOCK = threading.Lock()


@asynccontextmanager
async def _alembic_exclusive() -> AsyncIterator[None]:
    acquiring = asyncio.ensure_future(asyncio.to_thread(_ALEMBIC_LOCK.acquire))
    try:
        await asyncio.shield(acquiring)
    except asyncio.CancelledError:
        # The thread still gets the lock eventually: give it back then.
        acquiring.add_done_callback(
            lambda done: (
                _ALEMBIC_LOCK.release()
                if not done.cancelled() and done.exception() is None
                else None
            )
        )
        raise
    try:
        yield
    finally:
        _ALEMBIC_LOCK.release()


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision`, in one transaction.

    Already at head (the usual case when a process starts) costs one query and no lock. A
    database at a revision this code does not know raises `SchemaOutOfDate`."""
    current, head = await current_revision(engine), head_revision()
    if revision == "head" and current == head:
        return
    if current is not None and current not in known_revisions():
        raise SchemaOutOfDate(current, head, known=False)
    try:
        async with _alembic_exclusive(), write_transaction(engine) as conn:
            await conn.run_sync(_upgrade_sync, revision)
    except CommandError as exc:
        raise StoreError(f"migrating the store to {revision} failed: {exc}") from exc


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current_sync)


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the store's schema at `database_url` up to `revision` (default: the newest)."""
    engine = create_engine(normalise_url(database_url))
    try:
        await upgrade_engine(engine, revision)
    finally:
        await engine.dispose()
