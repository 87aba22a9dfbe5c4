"""Billing's vouchers (verifikationer): their financial years, the facts and the refs.

Bokföringslagen 7 kap. 2 § keeps a voucher until the end of the 7th year after the calendar year
in which *its own* financial year ended. Invoices and payments are vouchers of their own:

- an invoice belongs to the financial year the billing system recorded on it
  (`invoices.financial_year_end`);
- a payment belongs to the financial year that contains the day it was made (`paid_on`): a
  December invoice paid in January is a voucher of the later year, kept a year longer.

Financial years. The billing database has no table of them, and neither customers nor the
company carry a definition: the financial year is recorded only on each invoice, as its last
day (the company's is the calendar year, 31 December, as in `sandbox/billing`). The rule assumed
here is that the financial year ends on the same day every year (a räkenskapsår of twelve whole
months ends on the last day of a month), so a payment's year is the first such end on or after
`paid_on`, following its invoice's recorded end: 31 December of the year paid for a calendar
year. A change of financial year (omläggning, with one shortened or extended year) is recorded
nowhere the connector can see: payments made in such a year get the year of the invoice's
pattern.

An invoice stays as long as a payment of it does: the payment row refers to it (a foreign key)
and is read with it. So an invoice's facts report the later of its own financial year and its
payments' (`voucher_facts`): the plan keeps an invoice paid in a later year until that year's
date, with its payment, and verification and the deferred erasure expect it there. Deleting by
its ref takes an invoice only once no payment refers to it any more, as it always did.

Refs are opaque to the orchestrator but stored for years in deferred-erasure inputs, so a form
once recorded must keep erasing correctly:

- `customer:<id>/fy:<end>`: the customer's invoices of the financial year ending `<end>` (their
  own year); one that a payment still refers to is not deleted by it. The invoices paid in a
  later year are a group of their own (with that year's date) under the same ref. Inputs
  recorded before payments had refs of their own carry this form in the payments category too,
  where it meant the payments of that year's invoices (a payment made in the next year went a
  year early): it now means the customer's payments made in that year, as the form below,
  which is when the ref's date says they may go.
- `customer:<id>/payments/fy:<end>`: the customer's payments made in the financial year ending
  `<end>`. Code that predates it parses no customer id from it, so it ignores it.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.billing._tables import invoices, payments
from schemas.results import RecordFacts

__all__ = [
    "group_ref",
    "parse_group_ref",
    "parse_payment_ref",
    "payment_group_ref",
    "payment_ids_of_year",
    "payment_year_end",
    "voucher_facts",
]

_PAYMENTS = "/payments"


def group_ref(customer_id: int, financial_year_end: date) -> str:
    """The opaque reference of one customer's invoices of one financial year (their own)."""
    return f"customer:{customer_id}/fy:{financial_year_end.isoformat()}"


def payment_group_ref(customer_id: int, financial_year_end: date) -> str:
    """The opaque reference of one customer's payments made in one financial year."""
    return f"customer:{customer_id}{_PAYMENTS}/fy:{financial_year_end.isoformat()}"


def parse_group_ref(ref: str) -> tuple[int, date] | None:
    """The customer id and financial-year end of an invoice ref (`customer:<id>/fy:<end>`)."""
    customer, _, year = ref.partition("/fy:")
    if not customer.startswith("customer:") or not year:
        return None
    try:
        return int(customer.removeprefix("customer:")), date.fromisoformat(year)
    except ValueError:
        return None


def parse_payment_ref(ref: str) -> tuple[int, date] | None:
    """The customer id and financial-year end of a payment ref: `customer:<id>/payments/fy:<end>`,
    or the invoice form a deferred erasure recorded before payments had refs of their own."""
    customer, _, year = ref.partition("/fy:")
    return parse_group_ref(f"{customer.removesuffix(_PAYMENTS)}/fy:{year}")


def payment_year_end(paid_on: date, invoice_year_end: date) -> date:
    """The last day of the financial year containing `paid_on`: the first day on or after it
    that ends a financial year the way the invoice's recorded year ends (same month, and its
    last day when the invoice's year ends on a month's last day)."""
    same_end = _year_end_in(paid_on.year, invoice_year_end)
    return same_end if paid_on <= same_end else _year_end_in(paid_on.year + 1, invoice_year_end)


def _year_end_in(year: int, pattern: date) -> date:
    days = calendar.monthrange(year, pattern.month)[1]
    month_end = pattern.day == calendar.monthrange(pattern.year, pattern.month)[1]
    return date(year, pattern.month, days if month_end else min(pattern.day, days))


async def voucher_facts(conn: AsyncConnection, ids: Sequence[int]) -> list[RecordFacts]:
    """The invoices and payments of the customers `ids`, one group per customer and financial
    year (and per later year of payments, for invoices paid in a later year), with their refs."""
    last_paid = await conn.execute(
        select(
            invoices.c.customer_id,
            invoices.c.financial_year_end,
            func.max(payments.c.paid_on).label("last_paid"),
        )
        .select_from(invoices.outerjoin(payments, payments.c.invoice_id == invoices.c.id))
        .where(invoices.c.customer_id.in_(ids))
        .group_by(invoices.c.id, invoices.c.customer_id, invoices.c.financial_year_end)
    )
    invoice_groups: Counter[tuple[int, date, date]] = Counter()
    for customer_id, year_end, paid_on in last_paid:
        kept_with = year_end if paid_on is None else payment_year_end(paid_on, year_end)
        invoice_groups[customer_id, year_end, max(year_end, kept_with)] += 1
    paid = await conn.execute(
        select(
            invoices.c.customer_id, invoices.c.financial_year_end, payments.c.paid_on, func.count()
        )
        .select_from(payments.join(invoices, payments.c.invoice_id == invoices.c.id))
        .where(invoices.c.customer_id.in_(ids))
        .group_by(invoices.c.customer_id, invoices.c.financial_year_end, payments.c.paid_on)
    )
    payment_groups: Counter[tuple[int, date]] = Counter()
    for customer_id, invoice_year_end, paid_on, count in paid:
        payment_groups[customer_id, payment_year_end(paid_on, invoice_year_end)] += int(count)
    facts = [
        RecordFacts(
            category="invoices",
            count=count,
            refs=(group_ref(customer_id, year_end),),
            financial_year_end=kept_year_end,
        )
        for (customer_id, year_end, kept_year_end), count in sorted(invoice_groups.items())
    ]
    facts += [
        RecordFacts(
            category="payments",
            count=count,
            refs=(payment_group_ref(customer_id, year_end),),
            financial_year_end=year_end,
        )
        for (customer_id, year_end), count in sorted(payment_groups.items())
    ]
    return facts


async def payment_ids_of_year(conn: AsyncConnection, customer_id: int, year_end: date) -> list[int]:
    """The customer's payments made in the financial year ending `year_end` (as `voucher_facts`
    groups them)."""
    rows = await conn.execute(
        select(payments.c.id, payments.c.paid_on, invoices.c.financial_year_end)
        .select_from(payments.join(invoices, payments.c.invoice_id == invoices.c.id))
        .where(invoices.c.customer_id == customer_id)
        .where(payments.c.paid_on <= year_end)
        .where(payments.c.paid_on > year_end - timedelta(days=366))  # a year is 12 months
    )
    return [
        payment_id
        for payment_id, paid_on, invoice_year_end in rows
        if payment_year_end(paid_on, invoice_year_end) == year_end
    ]
