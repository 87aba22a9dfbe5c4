"""Engines for the two supported databases, with the settings several processes need to share
one database: SQLite in WAL mode with a busy timeout and explicit BEGIN (IMMEDIATE for writers);
PostgreSQL through asyncpg with pre-ping (a worker outlives database restarts).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util.concurrency import await_only, in_greenlet

from orchestrator.store._errors import UnsupportedDatabase

__all__ = [
    "POOL_SIZE",
    "SQLITE_BUSY_TIMEOUT_MS",
    "create_engine",
    "normalise_url",
    "write_transaction",
]

# How long a SQLite writer waits for another process's write transaction before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Connections one pooled engine keeps (Settings.store_pool_size for the store of a service).
POOL_SIZE = 4

_SQLITE_BEGIN_OPTION = "dsr_sqlite_begin"
_WAL_ATTEMPTS = 20


def normalise_url(database_url: str | URL) -> URL:
    """The async form of a SQLite-file or PostgreSQL URL (`sqlite://` and `postgresql://` are
    accepted and given the aiosqlite / asyncpg driver). Anything else is `UnsupportedDatabase`."""
    try:
        url = make_url(database_url)
    except Exception as exc:
        raise UnsupportedDatabase(f"not a database URL: {exc}") from exc
    backend = url.drivername.partition("+")[0]
    if backend == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory":
            raise UnsupportedDatabase(
                "in-memory SQLite is not supported (every connection would see its own empty "
                "database): use a file, e.g. sqlite+aiosqlite:///dsr.db"
            )
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise UnsupportedDatabase(
        f"unsupported database {url.drivername!r}: use sqlite+aiosqlite:///<file> "
        "or postgresql+asyncpg://<host>/<database>"
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, decides when a transaction begins (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _enable_wal(cursor)
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """WAL is a property of the file: set once, every later connection finds it set. Switching
    needs an exclusive lock, and when two connections switch a new file at the same moment SQLite
    answers one of them "database is locked" at once (no busy wait: it would deadlock); by then
    the other has switched or soon will, so look again."""
    for attempt in range(_WAL_ATTEMPTS):
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() in ("wal", "memory"):
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            # Only ever reached while a brand-new database file is first opened concurrently.
            # This hook runs inside SQLAlchemy's greenlet: wait without blocking the event loop.
            delay = 0.005 * (attempt + 1)
            if in_greenlet():
                await_only(asyncio.sleep(delay))
            else:  # pragma: no cover - the store only uses async engines
                time.sleep(delay)


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers begin IMMEDIATE: they take the write lock up front (waiting up to the busy timeout)
    # instead of failing with "database is locked" when a read transaction tries to upgrade.
    mode = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: URL, *, pooled: bool = True, pool_size: int = POOL_SIZE) -> AsyncEngine:
    """An engine for a URL from `normalise_url`. `pooled=False` closes each connection after
    use: for rarely used side stores (data keys) that must not keep aiosqlite's non-daemon
    threads alive, which would hold up the exit of a process that never closes them.

    A pooled engine holds at most `pool_size` connections, no overflow: SQLAlchemy's default
    (5 + 10 overflow) let a worker's burst open 10 PostgreSQL backends of ~7 MiB each, while
    store statements take milliseconds, so a few connections serve the burst as fast (callers
    queue for one, up to the pool's 30 s timeout)."""
    options: dict[str, Any] = (
        {"pool_size": pool_size, "max_overflow": 0} if pooled else {"poolclass": NullPool}
    )
    if url.get_backend_name() == "sqlite":
        assert url.database
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **options)


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: on SQLite it holds the database's write lock from BEGIN
    (serialising writers across processes); on PostgreSQL it is an ordinary transaction."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            await conn.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        async with conn.begin():
            yield conn
