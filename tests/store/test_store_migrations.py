"""Migrations: apply from empty, idempotent, concurrent-safe, reversible, match the tables."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from orchestrator.store import (
    SchemaOutOfDate,
    Store,
    UnsupportedDatabase,
    head_revision,
    upgrade,
)
from orchestrator.store.__main__ import main as cli_main
from orchestrator.store._engine import create_engine, normalise_url
from orchestrator.store._migrate import VERSION_TABLE, alembic_config, current_revision
from orchestrator.store._tables import metadata

TABLES = {"requests", "completion_records", "audit_events"}


def _table_names(conn: Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


async def _tables_and_revision(url: str) -> tuple[set[str], str | None]:
    engine = create_engine(normalise_url(url))
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(_table_names)
        return tables, await current_revision(engine)
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_and_again(empty_database_url: str) -> None:
    assert await _tables_and_revision(empty_database_url) == (set(), None)

    await upgrade(empty_database_url)
    tables, revision = await _tables_and_revision(empty_database_url)
    assert TABLES | {VERSION_TABLE} <= tables
    assert revision == head_revision()

    await upgrade(empty_database_url)  # idempotent
    async with await Store.open(empty_database_url) as store:  # and Store.open upgrades again
        assert await store.verify_audit_chain() == 0
    assert await _tables_and_revision(empty_database_url) == (tables, head_revision())


async def test_concurrent_upgrades_serialise(empty_database_url: str) -> None:
    await asyncio.gather(*(upgrade(empty_database_url) for _ in range(3)))
    assert (await _tables_and_revision(empty_database_url))[1] == head_revision()


async def test_open_without_migrate_requires_current_schema(empty_database_url: str) -> None:
    with pytest.raises(SchemaOutOfDate) as caught:
        await Store.open(empty_database_url, migrate=False)
    assert caught.value.current is None
    assert caught.value.head == head_revision()

    await upgrade(empty_database_url)
    store = await Store.open(empty_database_url, migrate=False)
    await store.close()


async def test_schema_from_a_newer_version_is_refused(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    engine = create_engine(normalise_url(empty_database_url))
    try:
        async with engine.begin() as conn:
            version = sa.table(VERSION_TABLE, sa.column("version_num"))
            await conn.execute(sa.update(version).values(version_num="f00d"))
    finally:
        await engine.dispose()
    for migrate in (True, False):
        with pytest.raises(SchemaOutOfDate, match="newer version") as caught:
            await Store.open(empty_database_url, migrate=migrate)
        assert caught.value.current == "f00d"


async def test_downgrade_to_base_and_up_again(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    engine = create_engine(normalise_url(empty_database_url))

    def downgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")

    try:
        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
            assert not TABLES & await conn.run_sync(_table_names)
    finally:
        await engine.dispose()
    await upgrade(empty_database_url)
    assert (await _tables_and_revision(empty_database_url))[1] == head_revision()


async def test_migrations_match_table_definitions(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    engine = create_engine(normalise_url(empty_database_url))

    def diff(conn: Connection) -> list[object]:
        def for_this_dialect(obj: object, *_: object) -> bool:
            # An index declared for one dialect only (`.ddl_if(dialect=...)`, e.g. PostgreSQL's
            # NULLS LAST order) is expected on that one alone.
            only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
            return only is None or only == conn.dialect.name

        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "compare_type": True,
                "include_object": for_this_dialect,
            },
        )
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_cli_upgrade_verify_revision(
    empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = empty_database_url

    async def cli(*args: str) -> int:
        # The CLI runs its own event loop: keep it off the test's loop.
        return await asyncio.to_thread(cli_main, [*args, "--database-url", url])

    assert await cli("revision") == 0
    assert "current: <empty>" in capsys.readouterr().out
    assert await cli("verify") == 1
    assert "upgrade" in capsys.readouterr().err
    assert await cli("upgrade") == 0
    assert await cli("verify") == 0
    assert "0 entries verified" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///dsr.db", "sqlite+aiosqlite:///dsr.db"),
        ("sqlite+aiosqlite:////var/lib/dsr/dsr.db", "sqlite+aiosqlite:////var/lib/dsr/dsr.db"),
        ("postgresql://u@db:5432/dsr", "postgresql+asyncpg://u@db:5432/dsr"),
        ("postgres://u@db/dsr", "postgresql+asyncpg://u@db/dsr"),
        ("postgresql+asyncpg://u@db/dsr", "postgresql+asyncpg://u@db/dsr"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url).render_as_string() == expected


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite://", "sqlite:///:memory:", "mysql+aiomysql://u@db/dsr", "not a url"],
)
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(UnsupportedDatabase):
        normalise_url(url)
