"""Erasure: carry out billing's slice of the plan, one customer per transaction.

The connector decides nothing about retention: the policy's planner did, from the facts
`locate` reported (each customer's invoices grouped by their financial year, refs
`customer:<id>/fy:<date>`, and payments by the financial year they were made in, refs
`customer:<id>/payments/fy:<date>`; see `_vouchers`), and each customer row and its cards
(refs `customer:<id>/contact` and `customer:<id>/cards`, with whether the row's contract runs;
see `_customers`). Here, the `delete` actions on invoices and payments name exactly those
groups; `retain` ones are not touched (an active customer's row and cards while its services
run); `anonymise` of the contact blanks the customer rows it names (a row referenced by kept
invoices cannot be deleted); of a company's row only its contact person's details, the
company's own staying as they are. A plan without refs for the contact or the cards (made
before they had refs) acts on every row of the subject, as it did. A deferred
erasure years later carries only refs, so it works after the customer row has lost every
identifier, and with the refs recorded before payments had refs of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.billing._customers import cards_ref, contact_ref
from connectors.billing._tables import (
    card_tokens,
    customers,
    invoice_lines,
    invoices,
    login_sessions,
    payments,
)
from connectors.billing._vouchers import parse_group_ref, parse_payment_ref, payment_ids_of_year
from schemas.plan import REMOVING_ACTIONS, PlanAction, SystemPlan
from schemas.status import RetentionReason

__all__ = ["Erasure", "erase_customer", "erase_refs"]

_EVIDENCE_CUSTOMERS = 20  # customer numbers named in the evidence; more are counted
_DELETE = frozenset({PlanAction.DELETE})


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
    kept: list[str] = field(default_factory=list)  # rows kept per plan (their contract runs)

    def evidence(self, plan: SystemPlan) -> str:
        day = plan.created_on.isoformat() if plan.created_on else "(undated)"
        named = ", ".join(
            f"{number} (kept per plan)" if number in self.kept else number
            for number in self.customers[:_EVIDENCE_CUSTOMERS]
        )
        if len(self.customers) > _EVIDENCE_CUSTOMERS:
            named += f" and {len(self.customers) - _EVIDENCE_CUSTOMERS} more"
        parts = [
            f"billing erase on {day}: customers {named or 'none by identifier'}",
            f"customer rows anonymised: {self.anonymised['contact']}",
            "deleted: " + ", ".join(f"{k} {v}" for k, v in self.deleted.items()),
        ]
        for item in plan.retained:
            if item.until:
                until = f"until {item.until.isoformat()}"
            elif item.reason is RetentionReason.CONTRACT:
                until = "while the contract runs"
            else:
                until = "until with no end date yet"
            parts.append(f"retained per plan: {item.category} {item.count} {until}")
        return "; ".join(parts)


async def erase_refs(engine: AsyncEngine, plan: SystemPlan, done: Erasure) -> None:
    """Delete the voucher groups the plan names, each in its own transaction: all the payments
    first (each group of the financial year it was made in), then the invoices of each named
    year that no payment refers to any more. An invoice whose payment the plan keeps (paid in
    a later year) stays, with it, and goes with the ref of its own year once the payment is
    gone: the facts planned it until the payment's date. Unknown refs are ignored."""
    payment_groups = _parsed(plan.refs("payments", PlanAction.DELETE), parse_payment_ref)
    invoice_groups = _parsed(plan.refs("invoices", PlanAction.DELETE), parse_group_ref)
    for customer_id, year_end in payment_groups:
        async with engine.begin() as conn:
            ids = await payment_ids_of_year(conn, customer_id, year_end)
            if ids:
                done.deleted["payments"] += (
                    await conn.execute(delete(payments).where(payments.c.id.in_(ids)))
                ).rowcount
    for customer_id, year_end in invoice_groups:
        unpaid = (
            select(invoices.c.id)
            .where(invoices.c.customer_id == customer_id)
            .where(invoices.c.financial_year_end == year_end)
            .where(~exists().where(payments.c.invoice_id == invoices.c.id))
        )
        async with engine.begin() as conn:
            await conn.execute(delete(invoice_lines).where(invoice_lines.c.invoice_id.in_(unpaid)))
            done.deleted["invoices"] += (
                await conn.execute(delete(invoices).where(invoices.c.id.in_(unpaid)))
            ).rowcount


def _parsed(
    refs: Iterable[str], parse: Callable[[str], tuple[int, date] | None]
) -> list[tuple[int, date]]:
    """The (customer id, financial-year end) groups of `refs`, each once, in order."""
    return sorted({group for group in map(parse, refs) if group is not None})


async def erase_customer(
    engine: AsyncEngine, customer_id: int, plan: SystemPlan, done: Erasure
) -> None:
    """The plan's category-wide actions for one customer, in one transaction."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(customers.c.status, customers.c.customer_number, customers.c.kind)
                .where(customers.c.id == customer_id)
                .with_for_update()  # two erasures of one customer run one after the other
            )
        ).one_or_none()
        if row is None:  # gone since the lookup
            return
        done.customers.append(row.customer_number)
        company = row.kind == "company"
        # A company's cards are the company's, not its contact person's: never touched.
        if not company and _removes(plan, "card_tokens", cards_ref(customer_id), _DELETE):
            done.deleted["card_tokens"] += (
                await conn.execute(
                    delete(card_tokens).where(card_tokens.c.customer_id == customer_id)
                )
            ).rowcount
        if plan.acts_on("login_sessions", PlanAction.DELETE):
            done.deleted["login_sessions"] += (
                await conn.execute(
                    delete(login_sessions).where(login_sessions.c.customer_id == customer_id)
                )
            ).rowcount
        if row.status == "anonymised":
            return
        if not _removes(plan, "contact", contact_ref(customer_id), REMOVING_ACTIONS):
            if contact_ref(customer_id) in plan.refs("contact", PlanAction.RETAIN):
                done.kept.append(row.customer_number)
            return
        if company:
            done.anonymised["contact"] += await _remove_contact_person(conn, customer_id)
        else:
            await _anonymise(conn, customer_id)
            done.anonymised["contact"] += 1


def _removes(plan: SystemPlan, category: str, ref: str, actions: frozenset[PlanAction]) -> bool:
    """Whether the plan removes this customer's `category` (its row's contact details, its
    cards): by the row's ref, or category-wide — an action without refs, as plans made before
    the rows had refs carry (an older policy: a request in flight) — unless it keeps the ref."""
    kept = set(plan.refs(category, PlanAction.RETAIN))
    return any(
        ref in action.refs or (not action.refs and ref not in kept)
        for action in plan.for_category(category)
        if action.action in actions
    )


async def _remove_contact_person(conn: AsyncConnection, customer_id: int) -> int:
    """A company customer's contact person asked for erasure: their name, e-mail and phone go;
    the company's name, organisation number, address, status and contracts stay (it is the
    contracting party, not the subject). 1 if the row still named a contact person."""
    result = await conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .where(
            (customers.c.contact_name.is_not(None))
            | (customers.c.email.is_not(None))
            | (customers.c.phone.is_not(None))
        )
        .values(contact_name=None, email=None, phone=None)
    )
    return int(result.rowcount)


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
