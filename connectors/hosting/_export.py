"""Export: every record the subject has in the panel and the home directories, streamed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import (
    ExportSink,
)
from connectors.hosting._common import (
    CATEGORY_NAMES,
    YIELD_PER,
    HostingBase,
    iso,
    write,
)
from connectors.hosting._tables import (
    access_logs,
    backups,
    databases,
    domains,
    ftp_users,
    mailboxes,
)
from schemas.results import (
    ExportResult,
)
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.hosting")


class CountingSink:
    """Counts what reaches the caller's sink: an export may only be retried before the first."""

    def __init__(self, sink: ExportSink) -> None:
        self._sink = sink
        self.counts = dict.fromkeys(CATEGORY_NAMES, 0)

    @property
    def written(self) -> int:
        return sum(self.counts.values())

    async def write(self, category: str, record: dict[str, object]) -> None:
        await write(self._sink, category, record)
        self.counts[category] += 1


async def _stream(
    conn: AsyncConnection,
    statement: Select[Any],
    write: Callable[[Row[Any]], Awaitable[None]],
) -> None:
    """Rows one batch at a time (a server-side cursor on MariaDB), each written as it comes."""
    result = await conn.stream(statement.execution_options(yield_per=YIELD_PER))
    async for row in result:
        await write(row)


def _account_record(row: Row[Any], hosted: list[str]) -> dict[str, object]:
    return {
        "username": row.username,
        "customer_number": row.customer_number,
        "owner_name": row.owner_name,
        "email": row.email,
        "phone": row.phone,
        "plan": row.plan,
        "status": row.status,
        "created_at": iso(row.created_at),
        "closed_at": iso(row.closed_at),
        "restricted": bool(row.restricted),
        "domains": hosted,
    }


def _backup_record(row: Row[Any]) -> dict[str, object]:
    return {
        "account": row.username,
        "customer_number": row.customer_number,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "path": row.path,
        "size_bytes": row.size_bytes,
        "note": "backups cannot be edited; the copy is deleted when it expires",
    }


class ExportMixin(HostingBase):
    """HostingConnector's export (the connector supplies matching and the engine)."""

    # --- export ---------------------------------------------------------------------------

    async def export(self, subject: SubjectRef, sink: ExportSink) -> ExportResult:
        counting = CountingSink(sink)
        await self._run("export", lambda: self._export(subject, counting))
        log.info("hosting export: %d records", counting.written)
        return ExportResult(system=self.name, counts=dict(counting.counts))

    async def _export(self, subject: SubjectRef, sink: CountingSink) -> None:
        async with self._engine.connect() as conn:
            match = await self._match(conn, subject)
            self._refuse_if_ambiguous(match, "export")
            names = {row.id: row.username for row in match.accounts}
            for row in match.accounts:
                hosted = (
                    await conn.execute(
                        select(domains.c.name)
                        .where(domains.c.account_id == row.id)
                        .order_by(domains.c.name)
                    )
                ).scalars()
                await sink.write("account", _account_record(row, list(hosted)))
            if match.ids:
                await self._export_children(conn, match.ids, names, sink)
            ids = self._backups_of(subject, match)
            if ids is not None:
                await _stream(
                    conn,
                    select(backups)
                    .select_from(backups.join(ids, ids.c.id == backups.c.id))
                    .order_by(backups.c.created_at, backups.c.id),
                    lambda row: sink.write("backups", _backup_record(row)),
                )
        for row in match.accounts:
            async for file in self._homes.files(row.username):
                await sink.write(
                    "files",
                    {
                        "account": row.username,
                        "path": file.path,
                        "size_bytes": file.size_bytes,
                        "modified_at": iso(file.modified_at),
                    },
                )

    async def _export_children(
        self, conn: AsyncConnection, ids: list[int], names: dict[int, str], sink: CountingSink
    ) -> None:
        await _stream(
            conn,
            select(mailboxes).where(mailboxes.c.account_id.in_(ids)).order_by(mailboxes.c.id),
            lambda row: sink.write(
                "mailboxes",
                {
                    "account": names[row.account_id],
                    "address": row.address,
                    "quota_mb": row.quota_mb,
                    "created_at": iso(row.created_at),
                },
            ),
        )
        await _stream(
            conn,
            select(databases).where(databases.c.account_id.in_(ids)).order_by(databases.c.id),
            lambda row: sink.write(
                "databases",
                {"account": names[row.account_id], "name": row.name, "size_bytes": row.size_bytes},
            ),
        )
        await _stream(
            conn,
            select(ftp_users).where(ftp_users.c.account_id.in_(ids)).order_by(ftp_users.c.id),
            lambda row: sink.write(
                "ftp_users",
                {
                    "account": names[row.account_id],
                    "login": row.login,
                    "home_path": row.home_path,
                },
            ),
        )
        await _stream(
            conn,
            select(access_logs).where(access_logs.c.account_id.in_(ids)).order_by(access_logs.c.id),
            lambda row: sink.write(
                "access_logs",
                {
                    "account": names[row.account_id],
                    "at": iso(row.at),
                    "ip_address": row.ip_address,
                    "method": row.method,
                    "path": row.path,
                    "status": row.status,
                    "user_agent": row.user_agent,
                },
            ),
        )
