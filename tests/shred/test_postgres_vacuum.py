"""On PostgreSQL a destroyed data key leaves no copy of its wrapped key in the table's pages.

An UPDATE there writes a new row version and leaves the old one — wrapped key included — in
the heap until VACUUM. `KeyStore.destroy_data_key` vacuums `data_keys` in autocommit after each
destruction; these tests read the table's raw pages (pageinspect, so a superuser is needed:
the local PostgreSQL's `postgres`) and look for the wrapped key's bytes, in any row version and
anywhere in a page. A transaction older than the destruction pins the old version; the sweep's
next VACUUM (`vacuum_data_keys`, at the start of every run) removes it once that is gone.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import sqlalchemy as sa

from orchestrator.datakeys import DataKeyDestroyed, DataKeyRing
from orchestrator.store._keys import KeyStore

pytestmark = pytest.mark.postgres

PG_ADMIN_URL = os.environ.get(
    "DSR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MASTER = {"m1": os.urandom(32)}


def _url(name: str, driver: str) -> str:
    url = sa.make_url(PG_ADMIN_URL).set(drivername=driver, database=name)
    return url.render_as_string(hide_password=False)


class Pages:
    """The raw pages of `data_keys`, read through pageinspect on a connection of its own."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def raw(self) -> bytes:
        pages = await self.conn.fetchval(
            "SELECT pg_relation_size('data_keys') / current_setting('block_size')::int"
        )
        chunks = [
            await self.conn.fetchval("SELECT get_raw_page('data_keys', $1)", page)
            for page in range(pages)
        ]
        return b"".join(chunks)

    async def row_versions_holding(self, wrapped: bytes) -> int:
        """Row versions (live or dead) whose data holds `wrapped`, across every page."""
        pages = await self.conn.fetchval(
            "SELECT pg_relation_size('data_keys') / current_setting('block_size')::int"
        )
        found = 0
        for page in range(pages):
            rows = await self.conn.fetch(
                "SELECT t_data FROM heap_page_items(get_raw_page('data_keys', $1))", page
            )
            found += sum(1 for r in rows if r["t_data"] is not None and wrapped in r["t_data"])
        return found


@pytest.fixture
async def database() -> AsyncIterator[str]:
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} not reachable: {error}")
    name = f"dsr_shred_test_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def key_store(database: str) -> AsyncIterator[KeyStore]:
    async with await KeyStore.open(_url(database, "postgresql+asyncpg"), pooled=True) as store:
        yield store


@pytest.fixture
async def pages(database: str, key_store: KeyStore) -> AsyncIterator[Pages]:
    conn = await asyncpg.connect(_url(database, "postgresql"))
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
    try:
        yield Pages(conn)
    finally:
        await conn.close()


async def _keys(key_store: KeyStore, count: int) -> tuple[DataKeyRing, dict[str, bytes]]:
    ring = DataKeyRing(MASTER, store=key_store, cache_ttl=0)
    wrapped = {}
    for n in range(count):
        request_id = f"req-vacuum-{n:04d}"
        await ring.keys_for(request_id, create=True)
        stored = await key_store.get_data_key(request_id)
        assert stored is not None and stored.wrapped_key is not None
        wrapped[request_id] = stored.wrapped_key
    return ring, wrapped


async def test_no_copy_of_a_destroyed_wrapped_key_survives_in_the_table(
    key_store: KeyStore, pages: Pages
) -> None:
    ring, wrapped = await _keys(key_store, 160)  # three pages, the victims spread over them
    victims = ["req-vacuum-0000", "req-vacuum-0055", "req-vacuum-0110", "req-vacuum-0159"]
    raw = await pages.raw()
    assert len(raw) >= 3 * 8192
    assert all(wrapped[v] in raw for v in victims)  # the probe sees wrapped keys at all

    for victim in victims:
        assert await ring.destroy(victim)
        with pytest.raises(DataKeyDestroyed):
            await ring.keys_for(victim)

    raw = await pages.raw()
    for victim in victims:
        assert wrapped[victim] not in raw, f"{victim}: wrapped key still in a page"
        assert await pages.row_versions_holding(wrapped[victim]) == 0
    kept = [r for r in wrapped if r not in victims]
    assert all(wrapped[r] in raw for r in kept)  # the others are untouched
    assert len(kept) == 156


async def test_without_the_vacuum_the_old_row_version_would_survive(
    database: str, key_store: KeyStore, pages: Pages
) -> None:
    """What the VACUUM is for: the same UPDATE by hand leaves the wrapped key in the heap."""
    _, wrapped = await _keys(key_store, 20)
    conn = await asyncpg.connect(_url(database, "postgresql"))
    try:
        await conn.execute(
            "UPDATE data_keys SET wrapped_key = NULL, destroyed_at = now() "
            "WHERE request_id = 'req-vacuum-0007'"
        )
    finally:
        await conn.close()
    assert await pages.row_versions_holding(wrapped["req-vacuum-0007"]) == 1  # a dead version
    await key_store.vacuum_data_keys()
    assert wrapped["req-vacuum-0007"] not in await pages.raw()


async def test_a_version_pinned_by_an_old_transaction_goes_at_the_next_vacuum(
    database: str, key_store: KeyStore, pages: Pages
) -> None:
    ring, wrapped = await _keys(key_store, 20)
    victim = "req-vacuum-0003"
    reader = await asyncpg.connect(_url(database, "postgresql"))
    try:
        snapshot = reader.transaction(isolation="repeatable_read")
        await snapshot.start()
        await reader.fetchval("SELECT count(*) FROM data_keys")  # takes the snapshot
        assert await ring.destroy(victim)
        # That transaction may still read the old version, so VACUUM had to keep it.
        assert await pages.row_versions_holding(wrapped[victim]) == 1
        await snapshot.rollback()
    finally:
        await reader.close()
    await key_store.vacuum_data_keys()  # what every sweep run does first
    assert wrapped[victim] not in await pages.raw()
    assert await pages.row_versions_holding(wrapped[victim]) == 0
