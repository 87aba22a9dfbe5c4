"""The store: request summaries, completion records and the append-only audit trail.

SQLite file by default (`sqlite+aiosqlite:///dsr.db`), PostgreSQL in production
(`postgresql+asyncpg://...`); the schema is managed by the Alembic migrations shipped in
`migrations/`, applied by `Store.open()` or `python -m orchestrator.store upgrade`.

    async with await Store.open(settings.database_url) as store:
        await store.append_audit(event)
"""

from __future__ import annotations

from orchestrator.store._errors import (
    DATABASE_UNREACHABLE,
    AuditChainBroken,
    SchemaOutOfDate,
    StoreError,
    UnsupportedDatabase,
)
from orchestrator.store._hashing import GENESIS_HASH
from orchestrator.store._migrate import head_revision, upgrade
from orchestrator.store._store import Store

__all__ = [
    "DATABASE_UNREACHABLE",
    "GENESIS_HASH",
    "AuditChainBroken",
    "SchemaOutOfDate",
    "Store",
    "StoreError",
    "UnsupportedDatabase",
    "head_revision",
    "upgrade",
]
