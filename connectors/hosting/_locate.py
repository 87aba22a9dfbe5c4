"""The hosting connector's locate: counts, facts for the policy, and identifiers learned.

A mixin of `HostingConnector` (which provides the engine, the home tree, matching and the
operation wrapper through `HostingBase`); kept apart from the connector's declarations so each
file has one job. Backups outlive a deleted account, so which backups are the subject's is
decided here too (`_backups_of`), and used by the erasure.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.hosting._common import (
    CATEGORY_NAMES,
    CHILD_TABLES,
    Backups,
    HostingBase,
    account_fact,
    local_day,
)
from connectors.hosting._matching import (
    Match,
    normalise,
)
from connectors.hosting._tables import (
    backups,
)
from schemas.identifiers import IdentifierType
from schemas.results import (
    LocateResult,
    RecordFacts,
)
from schemas.subject import Identifier, SubjectRef

__all__ = ["LocateMixin"]

log = logging.getLogger("connectors.hosting")


class LocateMixin(HostingBase):
    """`locate` and the lookups behind it."""

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
            learned = [] if match.ambiguity else self._learned(subject, match)
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
                by_day.setdefault(local_day(created_at), []).append(f"backup:{backup_id}")
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
        latest = local_day(row[1]) if row[1] is not None else None
        return Backups(count=int(row[0] or 0), latest_expiry=latest, overdue=overdue)

    def _learned(self, subject: SubjectRef, match: Match) -> list[Identifier]:
        """Account names and customer numbers of the subject's accounts that the subject did not
        bring. Never the accounts' mailbox addresses: a mailbox on the subject's domain is hosted
        data (exported with the account), not the subject's own address — a company's kontakt@ or
        a family member's box belongs to another person, and learning it made an objection
        unsubscribe, an erasure delete and an access export disclose that person's newsletter
        profile."""
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
        return learned
