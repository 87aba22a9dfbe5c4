"""Erasure: carry out billing's slice of the plan, one customer per transaction.

The connector decides nothing about retention: the policy's planner did, from the facts
`locate` reported (each customer's invoices and payments grouped by financial year, with refs
`customer:<id>/fy:<date>`). Here, the `delete` actions on invoices and payments name exactly
those groups; `retain` ones are not touched; `anonymise` of the contact blanks the customer row
(a row referenced by kept invoices cannot be deleted). A deferred erasure years later carries
only refs, so it works after the customer row has lost every identifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.billing._tables import (
    card_tokens,
    customers,
    invoice_lines,
    invoices,
    login_sessions,
    payments,
)
from schemas.plan import PlanAction, SystemPlan

__all__ = ["Erasure", "erase_customer", "erase_refs", "group_ref", "parse_group_ref"]

_EVIDENCE_CUSTOMERS = 20  # customer numbers named in the evidence; more are counted


def group_ref(customer_id: int, financial_year_end: date) -> str:
    """The opaque reference of one customer's vouchers of one financial year."""
    return f"customer:{customer_id}/fy:{financial_year_end.isoformat()}"


def parse_group_ref(ref: str) -> tuple[int, date] | None:
    customer, _, year = ref.partition("/fy:")
    if not customer.startswith("customer:") or not year:
        return None
    try:
        return int(customer.removeprefix("customer:")), date.fromisoformat(year)
    except ValueError:
        return None


@dataclass
class Erasure:
    """What one erasure did, summed over customers and groups."""

    deleted: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("invoices", "payments", "card_tokens", "login_sessions"), 0
        )
    )
    anonymised: dict[str, int] = field(default_factory=lambda: {"contact": 0})
    customers: list[str] = field(default_factory=list)

    def evidence(self, plan: SystemPlan) -> str:
        day = plan.created_on.isoformat() if plan.created_on else "(undated)"
        named = ", ".join(self.customers[:_EVIDENCE_CUSTOMERS]) or "none by identifier"
        if len(self.customers) > _EVIDENCE_CUSTOMERS:
            named += f" and {len(self.customers) - _EVIDENCE_CUSTOMERS} more"
        parts = [
            f"billing erase on {day}: customers {named}",
            f"customer rows anonymised: {self.anonymised['contact']}",
            "deleted: " + ", ".join(f"{k} {v}" for k, v in self.deleted.items()),
        ]
        for item in plan.retained:
            until = item.until.isoformat() if item.until else "with no end date yet"
            parts.append(f"retained per plan: {item.category} {item.count} until {until}")
        return "; ".join(parts)


async def erase_refs(engine: AsyncEngine, plan: SystemPlan, done: Erasure) -> None:
    """Delete the voucher groups the plan names: payments first, then invoices whose payments
    are all gone (an invoice whose payments the plan keeps stays, with them)."""
    payment_refs = set(plan.refs("payments", PlanAction.DELETE))
    invoice_refs = set(plan.refs("invoices", PlanAction.DELETE))
    for ref in sorted(payment_refs | invoice_refs):
        parsed = parse_group_ref(ref)
        if parsed is None:
            continue
        customer_id, year_end = parsed
        group = (
            select(invoices.c.id)
            .where(invoices.c.customer_id == customer_id)
            .where(invoices.c.financial_year_end == year_end)
        )
        async with engine.begin() as conn:
            if ref in payment_refs:
                done.deleted["payments"] += (
                    await conn.execute(delete(payments).where(payments.c.invoice_id.in_(group)))
                ).rowcount
            if ref in invoice_refs:
                unpaid = group.where(~exists().where(payments.c.invoice_id == invoices.c.id))
                await conn.execute(
                    delete(invoice_lines).where(invoice_lines.c.invoice_id.in_(unpaid))
                )
                done.deleted["invoices"] += (
                    await conn.execute(delete(invoices).where(invoices.c.id.in_(unpaid)))
                ).rowcount


async def erase_customer(
    engine: AsyncEngine, customer_id: int, plan: SystemPlan, done: Erasure
) -> None:
    """The plan's category-wide actions for one customer, in one transaction."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(customers.c.status, customers.c.customer_number)
                .where(customers.c.id == customer_id)
                .with_for_update()  # two erasures of one customer run one after the other
            )
        ).one_or_none()
        if row is None:  # gone since the lookup
            return
        done.customers.append(row.customer_number)
        for category, table in (("card_tokens", card_tokens), ("login_sessions", login_sessions)):
            if plan.acts_on(category, PlanAction.DELETE):
                done.deleted[category] += (
                    await conn.execute(delete(table).where(table.c.customer_id == customer_id))
                ).rowcount
        wanted = plan.acts_on("contact", PlanAction.ANONYMISE) or plan.acts_on(
            "contact", PlanAction.DELETE
        )
        if wanted and row.status != "anonymised":
            await _anonymise(conn, customer_id)
            done.anonymised["contact"] += 1


async def _anonymise(conn: AsyncConnection, customer_id: int) -> None:
    now = datetime.now(UTC)
    await conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values(
            name=None,
            contact_name=None,
            email=None,
            phone=None,
            personal_identity_number=None,
            organisation_number=None,
            street=None,
            postcode=None,
            city=None,
            status="anonymised",
            closed_at=func.coalesce(customers.c.closed_at, now),
            anonymised_at=now,
        )
    )
