"""What the hosting connector's modules share: categories, the tables behind them, and the
small conversions every operation needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.base import (
    Connector,
    ExportSink,
)
from connectors.hosting._errors import SinkFailure
from connectors.hosting._homes import HomeTree
from connectors.hosting._matching import Match
from connectors.hosting._tables import (
    access_logs,
    databases,
    ftp_users,
    mailboxes,
)
from policy.deadlines import local_date
from schemas.results import (
    RecordFacts,
)
from schemas.subject import SubjectRef

CATEGORY_NAMES = (
    "account",
    "mailboxes",
    "databases",
    "ftp_users",
    "access_logs",
    "files",
    "backups",
)
# Rows that hang off an account, with the category they are reported as.
CHILD_TABLES: tuple[tuple[str, Table], ...] = (
    ("mailboxes", mailboxes),
    ("databases", databases),
    ("ftp_users", ftp_users),
    ("access_logs", access_logs),
)
IN_SERVICE_STATUSES = ("active", "suspended")
YIELD_PER = 500  # rows per fetch when streaming an export
EVIDENCE_ACCOUNTS = 20  # accounts named in the evidence; more are counted


def in_service(row: Row[Any]) -> bool:
    """An active service: active or suspended, and not terminated (no closed_at)."""
    return row.closed_at is None and row.status in IN_SERVICE_STATUSES


def account_fact(category: str, row: Row[Any], count: int) -> RecordFacts:
    return RecordFacts(
        category=category,
        count=count,
        refs=(f"account:{row.id}",),
        contract_active=in_service(row),
    )


def as_utc(value: datetime) -> datetime:
    """The moment a panel timestamp means: the panel stores UTC without a zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def local_day(value: datetime | date) -> date:
    """The company's calendar day of a panel timestamp (`policy.deadlines.local_date`), not its
    UTC date: a backup taken 2026-01-31 23:30 UTC was taken on 1 February in Stockholm, and its
    three months (1182/71 Art. 3(2)(c)) run to 1 May, not 30 April. Locate is given the subject
    only (no plan, no policy): the zone is that of `local_date`'s default calendar, which is
    the policy's default, and is not written here."""
    return local_date(as_utc(value)) if isinstance(value, datetime) else value


async def write(sink: ExportSink, category: str, record: dict[str, object]) -> None:
    try:
        await sink.write(category, record)
    except Exception as exc:
        raise SinkFailure(exc) from exc


@dataclass(frozen=True)
class Backups:
    count: int = 0
    latest_expiry: date | None = None
    overdue: int = 0  # past expiry on `today`: the backup system should have deleted them


T = TypeVar("T")


class HostingBase(Connector):
    """What the operation modules (`_export`, `_erasure`) need of HostingConnector, which
    implements it: the engine, the home directories, matching and the operation wrapper."""

    _engine: AsyncEngine
    _homes: HomeTree

    async def _run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def _match(self, conn: AsyncConnection, subject: SubjectRef) -> Match:
        raise NotImplementedError

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        raise NotImplementedError

    def _backups_of(self, subject: SubjectRef, match: Match) -> Any | None:
        raise NotImplementedError
