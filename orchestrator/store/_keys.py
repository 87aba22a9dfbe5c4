"""The at-rest side of the store: per-request wrapped data keys and the access packages' rows.

Kept apart from `Store` (one job each): the payload codec needs the data keys in every process
that talks to Temporal (intake, worker, CLI, codec server), long before and after any of the
store's other tables matter, so `KeyStore` opens its own un-pooled engine — it is consulted
only on a cache miss (about once per request per process) and must never keep a process alive.

Destroying a key overwrites the wrapped key with NULL. On SQLite the page that held it is
zeroed (`secure_delete`) and the WAL checkpointed and truncated, so no copy of the wrapped key
survives in the database files. On PostgreSQL an UPDATE leaves the old row version (with the
wrapped key) in the heap until VACUUM, so every destruction is followed by `VACUUM data_keys`
in autocommit (VACUUM cannot run in a transaction): it prunes the dead version and compacts the
page, and on PostgreSQL 15 the wrapped key's bytes are gone from the table's pages (proven with
pageinspect in tests/shred/test_postgres_vacuum.py). A transaction older than the destruction
that is still open keeps the dead version visible, so VACUUM cannot remove it yet: the shred
sweep vacuums again on every run (`vacuum_data_keys`). What VACUUM does not reach: the WAL (and
WAL archives, base backups) still hold the insert until they are recycled or expire — which is
why the wrapped key is itself encrypted by the master key, outside the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.logging import get_logger
from orchestrator.store._engine import create_engine, normalise_url, write_transaction
from orchestrator.store._migrate import upgrade_engine
from orchestrator.store._tables import data_keys, packages, requests
from schemas.package import PackageRef
from schemas.status import TERMINAL_STATUSES, RequestStatus

_log = get_logger(__name__)

__all__ = ["ClosedRequestKey", "KeyStore", "StoredDataKey"]


@dataclass(frozen=True)
class ClosedRequestKey:
    """A closed request whose data key still exists: what the shred sweep decides on."""

    request_id: str
    kind: str
    status: RequestStatus
    closed_at: datetime
    retain_until: datetime | None
    package_expires_at: datetime | None  # None: no package, or already deleted


@dataclass(frozen=True)
class StoredDataKey:
    """A request's data key as stored: wrapped by `master_key_id`, or destroyed."""

    request_id: str
    master_key_id: str
    wrapped_key: bytes | None
    created_at: datetime
    retain_until: datetime | None
    destroyed_at: datetime | None

    @property
    def destroyed(self) -> bool:
        return self.wrapped_key is None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the key store needs timezone-aware datetimes")
    return value.astimezone(UTC)


def _from_db(value: object) -> datetime:
    """A timestamp computed in SQL (coalesce) comes back without the column's type decorator:
    naive ISO text on SQLite, aware on PostgreSQL."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class KeyStore:
    """Wrapped data keys and package rows. `await KeyStore.open(url)`; `await ks.close()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    @classmethod
    async def open(
        cls, database_url: str, *, migrate: bool = True, pooled: bool = False
    ) -> KeyStore:
        """`pooled=False` (default): each look-up opens and closes its connection, so a process
        that never closes the store still exits (see `DataKeyRing`)."""
        engine = create_engine(normalise_url(database_url), pooled=pooled)
        try:
            if migrate:
                await upgrade_engine(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql if self._dialect == "postgresql" else sqlite).insert(table)

    # -- data keys -----------------------------------------------------------------------------

    async def add_data_key(
        self, request_id: str, master_key_id: str, wrapped_key: bytes, created_at: datetime
    ) -> StoredDataKey:
        """Store a new request's wrapped key, unless one exists: then that one is returned
        (two processes racing to create the first key both end up using the same key)."""
        statement = (
            self._insert(data_keys)
            .values(
                request_id=request_id,
                master_key_id=master_key_id,
                wrapped_key=wrapped_key,
                created_at=_aware(created_at),
            )
            .on_conflict_do_nothing(index_elements=[data_keys.c.request_id])
        )
        async with write_transaction(self._engine) as conn:
            await conn.execute(statement)
            row = (
                (
                    await conn.execute(
                        sa.select(data_keys).where(data_keys.c.request_id == request_id)
                    )
                )
                .mappings()
                .one()
            )
        return self._key(row)

    async def get_data_key(self, request_id: str) -> StoredDataKey | None:
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(data_keys).where(data_keys.c.request_id == request_id)
                    )
                )
                .mappings()
                .one_or_none()
            )
        return None if row is None else self._key(row)

    async def retain_data_key(self, request_id: str, until: datetime) -> None:
        """The key must outlive `until` (a package's expiry, a deferred erasure's date): pushes
        `retain_until` forward, never back."""
        until = _aware(until)
        async with write_transaction(self._engine) as conn:
            current = (
                await conn.execute(
                    sa.select(data_keys.c.retain_until).where(data_keys.c.request_id == request_id)
                )
            ).scalar_one_or_none()
            if current is not None and current >= until:
                return
            await conn.execute(
                sa.update(data_keys)
                .where(data_keys.c.request_id == request_id)
                .values(retain_until=until)
            )

    async def destroy_data_key(self, request_id: str, at: datetime) -> bool:
        """Destroy the request's data key. True if this call destroyed it; False if there was
        none or it was already destroyed (idempotent)."""
        async with write_transaction(self._engine) as conn:
            if self._dialect == "sqlite":
                await conn.exec_driver_sql("PRAGMA secure_delete = ON")
            result = await conn.execute(
                sa.update(data_keys)
                .where(data_keys.c.request_id == request_id, data_keys.c.wrapped_key.is_not(None))
                .values(wrapped_key=None, destroyed_at=_aware(at))
            )
            destroyed = bool(result.rowcount)
        if destroyed:
            await self.vacuum_data_keys()
        return destroyed

    async def vacuum_data_keys(self) -> bool:
        """Leave no copy of a destroyed wrapped key in the database files: on SQLite checkpoint
        and truncate the WAL (the pages themselves were zeroed by `secure_delete`); on
        PostgreSQL `VACUUM data_keys` in autocommit, removing the old row versions.

        False when SQLite could not finish: a reader holding a snapshot keeps the checkpoint
        busy (it waits out the busy timeout, then gives up), and the old page with the wrapped
        key stays in the WAL. That is logged; the next sweep's vacuum (every run) finishes it.
        The key itself is destroyed either way: its row holds none, and the copy in the WAL is
        wrapped by the master key."""
        async with self._engine.connect() as conn:
            if self._dialect == "sqlite":
                result = await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                row: tuple[int, int, int] = tuple(result.one())  # (busy, log, checkpointed)
                busy, log_frames, checkpointed = row
                if busy or (log_frames > 0 and checkpointed < log_frames):
                    _log.warning(
                        "data key destroyed, WAL copy pending: the checkpoint was busy",
                        wal_frames=log_frames,
                        checkpointed=checkpointed,
                    )
                    return False
            else:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.exec_driver_sql("VACUUM data_keys")
        return True

    async def closed_with_live_keys(
        self, *, after: str = "", limit: int = 500, only: str | None = None
    ) -> list[ClosedRequestKey]:
        """Closed requests (completed, denied, cancelled) whose data key is not destroyed, in
        request-id order after `after` (a cursor: pass the last id seen); `only`: that one."""
        closed_at = sa.func.coalesce(requests.c.completed_at, requests.c.updated_at)
        query = (
            sa.select(
                data_keys.c.request_id,
                requests.c.kind,
                requests.c.status,
                closed_at.label("closed_at"),
                data_keys.c.retain_until,
                packages.c.expires_at.label("package_expires_at"),
                packages.c.deleted_at.label("package_deleted_at"),
            )
            .select_from(
                data_keys.join(requests, requests.c.request_id == data_keys.c.request_id).outerjoin(
                    packages, packages.c.request_id == data_keys.c.request_id
                )
            )
            .where(
                data_keys.c.wrapped_key.is_not(None),
                requests.c.status.in_([s.value for s in TERMINAL_STATUSES]),
                data_keys.c.request_id > after,
                *([] if only is None else [data_keys.c.request_id == only]),
            )
            .order_by(data_keys.c.request_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            ClosedRequestKey(
                request_id=row["request_id"],
                kind=row["kind"],
                status=RequestStatus(row["status"]),
                closed_at=_from_db(row["closed_at"]),
                retain_until=row["retain_until"],
                package_expires_at=(
                    None if row["package_deleted_at"] is not None else row["package_expires_at"]
                ),
            )
            for row in rows
        ]

    async def orphan_keys(
        self, created_before: datetime, *, after: str = "", limit: int = 500
    ) -> list[str]:
        """Live keys of request ids the store has no request for, created before
        `created_before`: made for a dead letter naming a request that never came (see
        orchestrator.dlq._sealing), in request-id order after `after`."""
        query = (
            sa.select(data_keys.c.request_id)
            .select_from(
                data_keys.outerjoin(requests, requests.c.request_id == data_keys.c.request_id)
            )
            .where(
                requests.c.request_id.is_(None),
                data_keys.c.wrapped_key.is_not(None),
                data_keys.c.created_at < _aware(created_before),
                data_keys.c.request_id > after,
            )
            .order_by(data_keys.c.request_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars().all())

    async def delete_orphan_key(self, request_id: str, created_before: datetime) -> bool:
        """Delete the row of an orphan key (still no request, still old enough): unlike a
        destroyed key it leaves nothing behind, so a request that does come with that id later
        simply gets a key of its own. True if this call deleted it."""
        no_request = ~sa.exists().where(requests.c.request_id == request_id)
        async with write_transaction(self._engine) as conn:
            if self._dialect == "sqlite":
                await conn.exec_driver_sql("PRAGMA secure_delete = ON")
            result = await conn.execute(
                sa.delete(data_keys).where(
                    data_keys.c.request_id == request_id,
                    data_keys.c.created_at < _aware(created_before),
                    no_request,
                )
            )
            deleted = bool(result.rowcount)
        if deleted:
            await self.vacuum_data_keys()
        return deleted

    @staticmethod
    def _key(row: sa.RowMapping) -> StoredDataKey:
        return StoredDataKey(
            request_id=row["request_id"],
            master_key_id=row["master_key_id"],
            wrapped_key=row["wrapped_key"],
            created_at=row["created_at"],
            retain_until=row["retain_until"],
            destroyed_at=row["destroyed_at"],
        )

    async def request_status(self, request_id: str) -> RequestStatus | None:
        """The request's current status in the store (None if the store has not seen it)."""
        async with self._engine.connect() as conn:
            status = (
                await conn.execute(
                    sa.select(requests.c.status).where(requests.c.request_id == request_id)
                )
            ).scalar_one_or_none()
        return None if status is None else RequestStatus(status)

    async def request_closed(self, request_id: str) -> bool:
        return await self.request_status(request_id) in TERMINAL_STATUSES

    # -- packages ------------------------------------------------------------------------------

    async def save_package(self, ref: PackageRef) -> PackageRef:
        """Record the request's package (a rebuilt package replaces the row)."""
        row = {
            "request_id": ref.request_id,
            "location": ref.location,
            "created_at": _aware(ref.created_at),
            "expires_at": _aware(ref.expires_at),
            "deleted_at": None,
            "size_bytes": ref.size_bytes,
            "sha256": ref.sha256,
            "files": ref.files,
        }
        insert = self._insert(packages).values(**row)
        statement = insert.on_conflict_do_update(
            index_elements=[packages.c.request_id],
            set_={k: insert.excluded[k] for k in row if k != "request_id"},
        )
        async with write_transaction(self._engine) as conn:
            await conn.execute(statement)
        return ref

    async def get_package(self, request_id: str) -> PackageRef | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(packages).where(packages.c.request_id == request_id)))
                .mappings()
                .one_or_none()
            )
        return None if row is None else PackageRef.model_validate(dict(row))

    async def mark_package_deleted(self, request_id: str, at: datetime) -> bool:
        """True if this call marked it (False: unknown or already deleted)."""
        async with write_transaction(self._engine) as conn:
            result = await conn.execute(
                sa.update(packages)
                .where(packages.c.request_id == request_id, packages.c.deleted_at.is_(None))
                .values(deleted_at=_aware(at))
            )
        return bool(result.rowcount)

    async def expired_packages(self, now: datetime, limit: int = 100) -> list[PackageRef]:
        """Packages past their expiry and not yet deleted (for a sweep after an outage)."""
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(packages)
                        .where(
                            packages.c.expires_at <= _aware(now), packages.c.deleted_at.is_(None)
                        )
                        .order_by(packages.c.expires_at)
                        .limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [PackageRef.model_validate(dict(row)) for row in rows]
