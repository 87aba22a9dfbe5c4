"""A destroyed key's old page can outlive `destroy` in SQLite's WAL while a reader holds an old
snapshot (the checkpoint gives up after the busy timeout): that is reported, not called done,
and the next vacuum (every sweep runs one) finishes it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import orchestrator.store._engine as engine
from orchestrator.datakeys import DataKeyRing
from orchestrator.store._keys import KeyStore


async def test_a_busy_checkpoint_is_reported_and_the_next_vacuum_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 200)  # the reader would hold 30 s
    db = tmp_path / "store.db"
    async with await KeyStore.open(f"sqlite+aiosqlite:///{db}") as store:
        ring = DataKeyRing({"m1": os.urandom(32)}, store=store, cache_ttl=0)
        await ring.keys_for("req-wal-000001", create=True)
        stored = await store.get_data_key("req-wal-000001")
        assert stored is not None and stored.wrapped_key is not None
        wrapped = stored.wrapped_key
        assert await store.vacuum_data_keys()  # nothing in the way: done
        reader = sqlite3.connect(db)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM data_keys").fetchall()  # an old snapshot, held
        try:
            await ring.keys_for("req-wal-000002", create=True)
            assert await ring.destroy("req-wal-000001")  # the key is gone from its row...
            assert not await store.vacuum_data_keys()  # ...its old page is not, and we say so
        finally:
            reader.rollback()
            reader.close()
        assert await store.vacuum_data_keys()
    for path in tmp_path.iterdir():
        assert wrapped not in path.read_bytes(), path.name
