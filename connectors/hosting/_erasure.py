"""Erasure: carry out hosting's slice of the plan, one account per transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import delete, func, select

from connectors.hosting._common import (
    CATEGORY_NAMES,
    CHILD_TABLES,
    EVIDENCE_ACCOUNTS,
    HostingBase,
)
from connectors.hosting._tables import (
    access_logs,
    accounts,
    backups,
    domains,
)
from schemas.plan import PlanAction, SystemPlan
from schemas.results import (
    EraseResult,
)
from schemas.status import RetainedItem
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.hosting")


@dataclass
class Erasure:
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORY_NAMES, 0))
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORY_NAMES[:-1], 0))
    kept_accounts: list[str] = field(default_factory=list)
    removed_accounts: list[str] = field(default_factory=list)


def _evidence(outcome: Erasure, retained: list[RetainedItem], day: date | None) -> str:
    when = day.isoformat() if day else "(undated)"
    handled = [f"{name} (kept per plan)" for name in outcome.kept_accounts] + [
        f"{name} (removed)" for name in outcome.removed_accounts
    ]
    if not handled and not retained and not outcome.deleted["backups"]:
        return f"hosting erase on {when}: no account matched"
    named = ", ".join(handled[:EVIDENCE_ACCOUNTS]) or "none left (removed earlier)"
    if len(handled) > EVIDENCE_ACCOUNTS:
        named += f" and {len(handled) - EVIDENCE_ACCOUNTS} more"
    parts = [
        f"hosting erase on {when}: accounts {named}",
        "deleted: " + ", ".join(f"{k} {v}" for k, v in outcome.deleted.items()),
        f"home directories deleted: {len(outcome.removed_accounts)}",
    ]
    for item in retained:
        until = f"until {item.until.isoformat()}" if item.until else "while the service is active"
        parts.append(f"retained per plan: {item.category} {item.count} {until}")
    return "; ".join(parts)


class ErasureMixin(HostingBase):
    """HostingConnector's erase (the connector supplies matching and the engine)."""

    # --- erase ----------------------------------------------------------------------------

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        return await self._run("erase", lambda: self._erase(subject, plan))

    async def _erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        """The plan's slice: access logs deleted, the accounts it names (closed services)
        removed with their files, the backup copies it names (past 3 months) deleted from the
        catalogue; what it retains is not touched."""
        outcome = Erasure()
        if any(not a.refs for a in plan.actions if a.action is not PlanAction.RETAIN):
            async with self._engine.connect() as conn:
                match = await self._match(conn, subject)
            self._refuse_if_ambiguous(match, "erase")
            removable = set(plan.refs("account", PlanAction.DELETE))
            for account_id in match.ids:
                await self._erase_account(account_id, outcome, plan, removable)
        else:
            removable = set(plan.refs("account", PlanAction.DELETE))
            for ref in sorted(removable):
                await self._erase_account(
                    int(ref.removeprefix("account:")), outcome, plan, removable
                )
        outcome.deleted["backups"] += await self._delete_backups(
            plan.refs("backups", PlanAction.DELETE)
        )
        retained = plan.retained_items()
        log.info(
            "hosting erase: %d accounts kept (active service), %d removed, %d records deleted",
            len(outcome.kept_accounts),
            len(outcome.removed_accounts),
            sum(outcome.deleted.values()),
        )
        deleted = {k: v for k, v in outcome.deleted.items() if v or k != "backups"}
        return EraseResult(
            system=self.name,
            deleted=deleted,
            retained=retained,
            evidence=_evidence(outcome, retained, plan.created_on),
        )

    async def _delete_backups(self, refs: tuple[str, ...]) -> int:
        ids = [int(r.removeprefix("backup:")) for r in refs if r.startswith("backup:")]
        deleted = 0
        async with self._engine.begin() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                deleted += (
                    await conn.execute(delete(backups).where(backups.c.id.in_(chunk)))
                ).rowcount
        return deleted

    async def _erase_account(
        self, account_id: int, outcome: Erasure, plan: SystemPlan, removable: set[str]
    ) -> None:
        """One account, one transaction. Files go before the rows: if the rows went first and
        the disk failed, a retry could no longer find the home directory to delete."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(accounts)
                    .where(accounts.c.id == account_id)
                    .with_for_update()  # two erasures of one account run one after the other
                )
            ).one_or_none()
            if row is None:  # gone since the lookup
                return
            if plan.acts_on("access_logs", PlanAction.DELETE):
                outcome.deleted["access_logs"] += (
                    await conn.execute(
                        delete(access_logs).where(access_logs.c.account_id == row.id)
                    )
                ).rowcount
            if f"account:{row.id}" not in removable:
                for category, table in CHILD_TABLES[:3]:
                    outcome.kept[category] += int(
                        (
                            await conn.execute(
                                select(func.count())
                                .select_from(table)
                                .where(table.c.account_id == row.id)
                            )
                        ).scalar_one()
                    )
                outcome.kept["files"] += await self._homes.count_files(row.username)
                outcome.kept["account"] += 1
                outcome.kept_accounts.append(row.username)
                return
            outcome.deleted["files"] += await self._homes.remove(row.username)
            for category, table in CHILD_TABLES[:3]:
                outcome.deleted[category] += (
                    await conn.execute(delete(table).where(table.c.account_id == row.id))
                ).rowcount
            await conn.execute(delete(domains).where(domains.c.account_id == row.id))
            await conn.execute(delete(accounts).where(accounts.c.id == row.id))
            outcome.deleted["account"] += 1
            outcome.removed_accounts.append(row.username)
