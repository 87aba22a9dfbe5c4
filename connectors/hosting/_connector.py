"""The shared-hosting connector: control-panel accounts, their mailboxes, databases, FTP users,
access log, home directories on disk, and the backup catalogue.

Rules it applies (the company's policy, see ARCHITECTURE.md):
- An active service is kept while the contract runs (GDPR art. 6.1 b): an erasure that does not
  cancel the service keeps an active (or suspended, not terminated) account with its mailboxes,
  databases, FTP users and files, and reports them retained for the contract, without an end
  date. Terminated accounts (closed, or suspended and then terminated) are deleted completely:
  their rows and their home directory on disk.
- The control-panel access log (IP addresses) is deleted on every erasure.
- Backups cannot be edited: the connector never touches them. They expire three months after
  they were taken, so an erasure reports them retained until the latest expiry among them.
- One identifier that leads to two different owners (a shared family e-mail address) makes the
  subject ambiguous: the connector reports it and refuses to export, erase, rectify or restrict.

Nothing personal is logged or put into an error message; the evidence of an erasure names only
customer numbers and account usernames (the company's own references).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import Select, func, select, union
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.base import (
    AmbiguousSubject,
    ConfigurationError,
    Connector,
    DataCategory,
    Operation,
    load_settings,
)
from connectors.hosting._changes import RECTIFIABLE_FIELDS, ChangesMixin
from connectors.hosting._common import (
    CATEGORY_NAMES,
    CHILD_TABLES,
    Backups,
    account_fact,
    as_date,
)
from connectors.hosting._engine import create_hosting_engine
from connectors.hosting._erasure import ErasureMixin
from connectors.hosting._errors import translate_errors
from connectors.hosting._export import ExportMixin
from connectors.hosting._homes import HomeTree
from connectors.hosting._matching import (
    SEARCHABLE,
    Match,
    account_lookups,
    ambiguity,
    normalise,
    same_owner,
)
from connectors.hosting._settings import HostingSettings
from connectors.hosting._tables import (
    accounts,
    backups,
    mailboxes,
)
from schemas.identifiers import IdentifierType
from schemas.results import (
    LocateResult,
    RecordFacts,
)
from schemas.subject import Identifier, SubjectRef

__all__ = [
    "BACKUP_LEGAL_BASIS",
    "BACKUP_MONTHS",
    "CONTRACT_LEGAL_BASIS",
    "RECTIFIABLE_FIELDS",
    "HostingConnector",
]

log = logging.getLogger("connectors.hosting")

T = TypeVar("T")

CONTRACT_LEGAL_BASIS = "Avtal (GDPR art. 6.1 b): active hosting service"
BACKUP_LEGAL_BASIS = "Backups raderas efter 3 månader (personuppgiftspolicy)"
BACKUP_MONTHS = 3
# Request field -> accounts column.


class HostingConnector(ChangesMixin, ExportMixin, ErasureMixin, Connector):
    """Shared hosting (webbhotell): the control panel's database and the home directories."""

    name = "hosting"
    search_identifiers = SEARCHABLE
    categories = (
        DataCategory(
            name="account",
            description=(
                "Control-panel account: username, customer number, the owner's name, e-mail "
                "and phone, plan, status, the domains hosted"
            ),
            purpose="Deliver the hosting service bought (contract)",
        ),
        DataCategory(
            name="mailboxes",
            description="E-mail accounts on the customer's domains: address, quota, created",
            purpose="Deliver the hosting service bought (contract)",
        ),
        DataCategory(
            name="databases",
            description="The account's MySQL databases: name and size",
            purpose="Deliver the hosting service bought (contract)",
        ),
        DataCategory(
            name="ftp_users",
            description="The account's FTP logins and their home paths",
            purpose="Deliver the hosting service bought (contract)",
        ),
        DataCategory(
            name="access_logs",
            description="Control-panel access log: time, IP address, request, status, browser",
            purpose="Security of the control panel (legitimate interest)",
        ),
        DataCategory(
            name="files",
            description=(
                "Files in the account's home directory (the customer's website): path, size, "
                "modification time"
            ),
            purpose="Deliver the hosting service bought (contract)",
        ),
        DataCategory(
            name="backups",
            description=(
                "Weekly backup copies of the account (home directory, mailboxes, databases): "
                "when taken, when they expire, size"
            ),
            purpose="Restore the service after data loss (contract)",
        ),
    )
    operations = frozenset(
        {
            Operation.LOCATE,
            Operation.EXPORT,
            Operation.ERASE,
            Operation.RECTIFY,
            Operation.RESTRICT,
            Operation.LIFT_RESTRICTION,
        }
    )

    def __init__(
        self,
        database_url: str | URL | None = None,
        home_root: str | Path | None = None,
        *,
        engine: AsyncEngine | None = None,
        statement_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        operation_timeout: float = 900.0,
        pool_size: int = 5,
    ) -> None:
        """Either a database URL (the connector owns and disposes its engine) or an engine;
        and the root of the home directories."""
        if home_root is None:
            raise ConfigurationError("hosting needs the root of the home directories")
        if engine is None:
            if database_url is None:
                raise ConfigurationError("hosting needs a database URL or an engine")
            engine = create_hosting_engine(
                database_url,
                statement_timeout=statement_timeout,
                connect_timeout=connect_timeout,
                pool_size=pool_size,
            )
            self._owns_engine = True
        else:
            self._owns_engine = False
        self._engine = engine
        self._homes = HomeTree(Path(home_root))
        self._operation_timeout = operation_timeout

    def __repr__(self) -> str:
        return f"HostingConnector({self._engine.dialect.name})"

    @classmethod
    def from_settings(cls) -> Self:
        settings = load_settings(HostingSettings, "hosting")
        if settings.database_url is None or not settings.database_url.get_secret_value():
            raise ConfigurationError("DSR_HOSTING_DATABASE_URL is not set")
        if settings.home_root is None:
            raise ConfigurationError("DSR_HOSTING_HOME_ROOT is not set")
        return cls(
            settings.database_url.get_secret_value(),
            settings.home_root,
            statement_timeout=settings.statement_timeout,
            connect_timeout=settings.connect_timeout,
            operation_timeout=settings.operation_timeout,
            pool_size=settings.pool_size,
        )

    async def aclose(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()

    async def _run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """One operation: typed errors and an overall timeout. No retry loop here: a retryable
        error fails the activity and Temporal's retry policy (one vocabulary for every
        connector, DSR_RETRY_*) runs it again with backoff."""
        with translate_errors(operation):
            async with asyncio.timeout(self._operation_timeout):
                return await call()

    # --- matching -------------------------------------------------------------------------

    async def _match(self, conn: AsyncConnection, subject: SubjectRef) -> Match:
        match = Match()
        for identifier in subject.identifiers:
            if identifier.type not in SEARCHABLE:
                continue
            value = normalise(identifier.type, identifier.value)
            if value is None:
                continue
            ids: list[int] = []
            for lookup in account_lookups(identifier.type, value):
                for row in (await conn.execute(lookup.order_by(accounts.c.id))).all():
                    match.rows[row.id] = row
                    ids.append(row.id)
            match.hits.append((identifier.type, ids))
        match.ambiguity = ambiguity(subject, match)
        return match

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        if match.ambiguity:
            raise AmbiguousSubject(f"hosting refuses to {operation}: {match.ambiguity}")

    def _backup_keys(self, subject: SubjectRef, match: Match) -> tuple[set[str], set[str]]:
        """Usernames and customer numbers whose backups are the subject's. Backups outlive a
        deleted account, so the identifiers the subject brings count as well as the rows."""
        usernames = {row.username for row in match.accounts}
        numbers = {row.customer_number for row in match.accounts}
        for identifier in subject.identifiers:
            value = normalise(identifier.type, identifier.value)
            if value is None:
                continue
            if identifier.type is IdentifierType.ACCOUNT_NAME:
                usernames.add(value)
            elif identifier.type is IdentifierType.CUSTOMER_NUMBER:
                numbers.add(value)
        return usernames, numbers

    def _backups_of(self, subject: SubjectRef, match: Match) -> Any | None:
        """The subject's backup ids as a derived table (a UNION of two index lookups), or None."""
        usernames, numbers = self._backup_keys(subject, match)
        parts: list[Select[Any]] = []
        if usernames:
            parts.append(select(backups.c.id).where(backups.c.username.in_(sorted(usernames))))
        if numbers:
            parts.append(select(backups.c.id).where(backups.c.customer_number.in_(sorted(numbers))))
        if not parts:
            return None
        return union(*parts).subquery("subject_backups")

    # --- locate ---------------------------------------------------------------------------

    async def locate(self, subject: SubjectRef) -> LocateResult:
        return await self._run("locate", lambda: self._locate(subject))

    async def _locate(self, subject: SubjectRef) -> LocateResult:
        async with self._engine.connect() as conn:
            match = await self._match(conn, subject)
            counts = await self._counts(conn, subject, match)
            learned = [] if match.ambiguity else await self._learned(conn, subject, match)
            facts = await self._facts(conn, subject, match) if not match.ambiguity else []
        for row in match.accounts:
            files = await self._homes.count_files(row.username)
            counts["files"] += files
            if files and not match.ambiguity:
                facts.append(account_fact("files", row, files))
        log.info(
            "hosting locate: %d accounts, ambiguous=%s",
            len(match.rows),
            match.ambiguity is not None,
        )
        return LocateResult(
            system=self.name,
            counts=counts,
            learned=learned,
            ambiguous=match.ambiguity is not None,
            ambiguity_reason=match.ambiguity,
            facts=facts,
        )

    async def _facts(
        self, conn: AsyncConnection, subject: SubjectRef, match: Match
    ) -> list[RecordFacts]:
        """Per account: whether its service runs (the contract rule); per backup day: when the
        copies were taken (the 3-month rule). Refs: `account:<id>`, `backup:<id>`."""
        facts = [account_fact("account", row, 1) for row in match.accounts]
        for category, table in CHILD_TABLES[:3]:
            if not match.ids:
                break
            rows = await conn.execute(
                select(table.c.account_id, func.count())
                .where(table.c.account_id.in_(match.ids))
                .group_by(table.c.account_id)
            )
            facts += [account_fact(category, match.rows[i], int(n)) for i, n in rows]
        ids = self._backups_of(subject, match)
        if ids is not None:
            rows = await conn.execute(
                select(backups.c.id, backups.c.created_at)
                .select_from(backups.join(ids, ids.c.id == backups.c.id))
                .order_by(backups.c.created_at)
            )
            by_day: dict[date, list[str]] = {}
            for backup_id, created_at in rows:
                by_day.setdefault(as_date(created_at), []).append(f"backup:{backup_id}")
            facts += [
                RecordFacts(category="backups", count=len(refs), refs=tuple(refs), created_on=day)
                for day, refs in by_day.items()
            ]
        return facts

    async def _counts(
        self, conn: AsyncConnection, subject: SubjectRef, match: Match
    ) -> dict[str, int]:
        counts = dict.fromkeys(CATEGORY_NAMES, 0)
        counts["account"] = len(match.rows)
        if match.ids:
            # One round trip for the account's rows: locate runs in every discovery round.
            row = (
                await conn.execute(
                    select(
                        *(
                            select(func.count())
                            .select_from(table)
                            .where(table.c.account_id.in_(match.ids))
                            .scalar_subquery()
                            .label(category)
                            for category, table in CHILD_TABLES
                        )
                    )
                )
            ).one()
            for category, _ in CHILD_TABLES:
                counts[category] = int(getattr(row, category) or 0)
        counts["backups"] = (await self._backup_summary(conn, subject, match, None)).count
        return counts

    async def _backup_summary(
        self, conn: AsyncConnection, subject: SubjectRef, match: Match, today: date | None
    ) -> Backups:
        ids = self._backups_of(subject, match)
        if ids is None:
            return Backups()
        row = (
            await conn.execute(
                select(func.count(), func.max(backups.c.expires_at)).select_from(
                    backups.join(ids, ids.c.id == backups.c.id)
                )
            )
        ).one()
        overdue = 0
        if today is not None and row[0]:
            overdue = int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(backups.join(ids, ids.c.id == backups.c.id))
                        .where(backups.c.expires_at < datetime.combine(today, datetime.min.time()))
                    )
                ).scalar_one()
            )
        latest = as_date(row[1]) if row[1] is not None else None
        return Backups(count=int(row[0] or 0), latest_expiry=latest, overdue=overdue)

    async def _learned(
        self, conn: AsyncConnection, subject: SubjectRef, match: Match
    ) -> list[Identifier]:
        """Account names, customer numbers and mailbox addresses of the subject's accounts that
        the subject did not bring (mailbox addresses only when they lead to nobody else)."""
        known = set()
        for identifier in subject.identifiers:
            value = normalise(identifier.type, identifier.value)
            known.add((identifier.type, value if value is not None else identifier.value))
        learned: list[Identifier] = []

        def add(kind: IdentifierType, value: str) -> None:
            if (kind, value) not in known:
                known.add((kind, value))
                learned.append(Identifier(type=kind, value=value))

        for row in match.accounts:
            add(IdentifierType.ACCOUNT_NAME, row.username)
            add(IdentifierType.CUSTOMER_NUMBER, row.customer_number)
        if not match.ids:
            return learned
        addresses = (
            await conn.execute(
                select(mailboxes.c.address)
                .where(mailboxes.c.account_id.in_(match.ids))
                .order_by(mailboxes.c.id)
            )
        ).scalars()
        for address in list(addresses):
            value = normalise(IdentifierType.EMAIL, address)
            if value is None or (IdentifierType.EMAIL, value) in known:
                continue
            if await self._only_theirs(conn, value, match):
                add(IdentifierType.EMAIL, value)
        return learned

    async def _only_theirs(self, conn: AsyncConnection, address: str, match: Match) -> bool:
        owner = match.accounts[0]
        for lookup in account_lookups(IdentifierType.EMAIL, address):
            for row in (await conn.execute(lookup)).all():
                if not same_owner(row, owner):
                    return False
        return True
