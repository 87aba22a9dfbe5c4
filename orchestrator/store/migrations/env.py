"""Alembic environment for the store.

Run programmatically by `orchestrator.store.upgrade()` / `Store.open()`, which pass an open sync
connection (inside a write transaction) in `config.attributes["connection"]`. For authoring new
migrations by hand, a config with `sqlalchemy.url` set (`orchestrator.store._migrate
.alembic_config(url)`) makes this connect by itself; offline (`--sql`) mode is supported too.

Note for migration authors: on SQLite, `op.batch_alter_table` recreates a table; doing that to
`audit_events` drops its append-only triggers, so such a migration must create them again.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from orchestrator.store._engine import create_engine, normalise_url, write_transaction
from orchestrator.store._migrate import VERSION_TABLE
from orchestrator.store._tables import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(normalise_url(url))
    try:
        async with write_transaction(engine) as conn:
            await conn.run_sync(_run_on)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to the store migrations")
    asyncio.run(_run_with_own_engine(url))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
