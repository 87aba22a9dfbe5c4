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
from pathlib import Path
from typing import Self, TypeVar

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
from connectors.hosting._engine import create_hosting_engine
from connectors.hosting._erasure import ErasureMixin
from connectors.hosting._errors import translate_errors
from connectors.hosting._export import ExportMixin
from connectors.hosting._homes import HomeTree
from connectors.hosting._locate import LocateMixin
from connectors.hosting._matching import (
    SEARCHABLE,
    Match,
    ambiguity,
    hosted_lookups,
    normalise,
    owner_lookups,
)
from connectors.hosting._settings import HostingSettings
from connectors.hosting._tables import (
    accounts,
)
from schemas.subject import SubjectRef

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


class HostingConnector(LocateMixin, ChangesMixin, ExportMixin, ErasureMixin, Connector):
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
            for by_owner, lookups in (
                (True, owner_lookups(identifier.type, value)),
                (False, hosted_lookups(identifier.type, value)),
            ):
                for lookup in lookups:
                    for row in (await conn.execute(lookup.order_by(accounts.c.id))).all():
                        match.rows[row.id] = row
                        ids.append(row.id)
                        if by_owner:
                            match.owned.add(row.id)
            match.hits.append((identifier.type, ids))
        match.ambiguity = ambiguity(subject, match)
        return match

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        if match.ambiguity:
            raise AmbiguousSubject(f"hosting refuses to {operation}: {match.ambiguity}")
