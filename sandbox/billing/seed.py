"""Create the billing sandbox database and fill it with generated customers and their activity.

    summary = await seed_billing("sqlite+aiosqlite:///billing.db", customers=10_000, seed=1)

The schema is dropped and created again, rows are streamed from the generator and inserted in
batches (executemany), and the lookup indexes are built after the load, so a million customers
never sit in memory and the load does not pay for index maintenance row by row. The summary holds
row counts and a few example subjects (the interesting cases) for the CLI, the README and tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox._seeding import (
    BatchLoader,
    PairCollector,
    add_counts,
    async_database_url,
    customer_identifiers,
    elapsed,
    finish_load,
    fresh_database,
    pair_label,
)
from sandbox.billing.records import CustomerActivity, customer_activity
from sandbox.billing.schema import (
    card_tokens,
    invoice_lines,
    invoices,
    login_sessions,
    metadata,
    payments,
)
from sandbox.billing.schema import customers as customers_table
from sandbox.people import Customer, customer_at

__all__ = [
    "SeedExample",
    "SeedExamples",
    "SeedSummary",
    "SeededCustomer",
    "async_database_url",
    "category_counts",
    "seed_billing",
    "seeded_customer",
]

# The categories the billing connector reports, in its order.
CATEGORIES = ("contact", "invoices", "payments", "card_tokens", "login_sessions")
_TABLES: tuple[Table, ...] = (
    customers_table,
    invoices,
    invoice_lines,
    payments,
    card_tokens,
    login_sessions,
)


class SeedExample(BaseModel):
    """A seeded subject: its rows' identifiers and the counts the billing connector should find
    when it is searched by all of them."""

    model_config = ConfigDict(frozen=True)

    label: str
    customer_numbers: list[str]
    names: list[str]
    emails: list[str]
    phones: list[str]
    personal_identity_numbers: list[str] = Field(default_factory=list)
    organisation_numbers: list[str] = Field(default_factory=list)
    expected_counts: dict[str, int]


class SeedExamples(BaseModel):
    """One example of each case; None when too few customers were seeded to contain it."""

    model_config = ConfigDict(frozen=True)

    plain_person: SeedExample | None = None
    company_contact: SeedExample | None = None
    two_email_person: SeedExample | None = None
    shared_email_pair: SeedExample | None = None


class SeedSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    database: str  # the URL with any password hidden
    seed: int
    customers: int
    counts: dict[str, int]  # rows per table
    examples: SeedExamples
    seconds: float


@dataclass(frozen=True, slots=True)
class SeededCustomer:
    """A customer as seeded (without a database): the row, its activity, and expected counts."""

    customer: Customer
    activity: CustomerActivity

    @property
    def counts(self) -> dict[str, int]:
        return category_counts(self.customer, self.activity)


def seeded_customer(index: int, seed: int) -> SeededCustomer:
    """Row `index` of a database seeded with `seed` (and more than `index` customers)."""
    customer = customer_at(index, seed)
    return SeededCustomer(customer, customer_activity(customer, seed))


def category_counts(customer: Customer, activity: CustomerActivity) -> dict[str, int]:
    """Records per billing category for one customer row. Anonymised rows hold no contact data."""
    return {
        "contact": 0 if customer.status == "anonymised" else 1,
        "invoices": len(activity.invoices),
        "payments": activity.payments,
        "card_tokens": len(activity.card_tokens),
        "login_sessions": len(activity.login_sessions),
    }


async def seed_billing(
    database_url: str,
    customers: int,
    seed: int,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> SeedSummary:
    """Drop and create the billing schema, then insert `customers` generated customers.

    `progress(n)` is called with the number of customers written after every batch.
    """
    if customers < 0:
        raise ValueError("customers must not be negative")
    started = time.perf_counter()
    url = async_database_url(database_url)
    counts = dict.fromkeys((t.name for t in _TABLES), 0)
    examples = _ExampleCollector()
    async with fresh_database(url, metadata) as conn:
        loader = _Loader(conn, batch_size, counts)

        def add(customer: Customer) -> None:
            activity = customer_activity(customer, seed)
            examples.add(customer, activity)
            loader.add(customer, activity)

        await loader.load_customers(customers, seed, add, progress)
        await finish_load(conn, metadata, serials=(customers_table, invoices))
    return SeedSummary(
        database=url.render_as_string(hide_password=True),
        seed=seed,
        customers=customers,
        counts=counts,
        examples=examples.result(),
        seconds=elapsed(started),
    )


class _Loader(BatchLoader):
    """A customer's rows: the customer, its invoices (numbered here) with their lines and
    payments, its card tokens and login sessions."""

    def __init__(self, conn: AsyncConnection, batch_size: int, counts: dict[str, int]) -> None:
        super().__init__(conn, _TABLES, batch_size, counts)
        self._invoice_id = 0

    def add(self, customer: Customer, activity: CustomerActivity) -> None:
        customer_id = customer.index + 1
        self.rows["customers"].append(_customer_row(customer, customer_id))
        for invoice in activity.invoices:
            self._invoice_id += 1
            invoice_id = self._invoice_id
            self.rows["invoices"].append(
                {
                    "id": invoice_id,
                    "invoice_number": f"F{invoice.issued_on.year}-{invoice_id:07d}",
                    "customer_id": customer_id,
                    "issued_on": invoice.issued_on,
                    "due_on": invoice.due_on,
                    "financial_year_end": invoice.financial_year_end,
                    "buyer_name": invoice.buyer_name,
                    "buyer_address": invoice.buyer_address,
                    "total_ore": invoice.total_ore,
                    "vat_ore": invoice.vat_ore,
                }
            )
            self.rows["invoice_lines"].extend(
                {
                    "invoice_id": invoice_id,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price_ore": line.unit_price_ore,
                }
                for line in invoice.lines
            )
            self.rows["payments"].extend(
                {
                    "invoice_id": invoice_id,
                    "paid_on": payment.paid_on,
                    "amount_ore": payment.amount_ore,
                    "method": payment.method,
                    "reference": payment.reference,
                }
                for payment in invoice.payments
            )
        self.rows["card_tokens"].extend(
            {
                "customer_id": customer_id,
                "token": token.token,
                "last4": token.last4,
                "brand": token.brand,
                "expires": token.expires,
                "created_at": token.created_at,
            }
            for token in activity.card_tokens
        )
        self.rows["login_sessions"].extend(
            {
                "customer_id": customer_id,
                "started_at": session.started_at,
                "ip_address": session.ip_address,
                "user_agent": session.user_agent,
            }
            for session in activity.login_sessions
        )


def _customer_row(customer: Customer, customer_id: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": customer_id,
        "customer_number": customer.customer_number,
        "kind": customer.kind,
        "status": customer.status,
        "created_at": customer.created_at,
        "closed_at": customer.closed_at,
        "anonymised_at": customer.anonymised_at,
        "restricted": False,
        "name": None,
        "contact_name": None,
        "email": None,
        "phone": None,
        "personal_identity_number": None,
        "organisation_number": None,
        "street": None,
        "postcode": None,
        "city": None,
    }
    if customer.status != "anonymised":  # erased earlier: only the customer number is left
        row.update(
            name=customer.name,
            contact_name=customer.contact_name,
            email=customer.email,
            phone=customer.phone,
            personal_identity_number=customer.personal_identity_number,
            organisation_number=customer.organisation_number,
            street=customer.street,
            postcode=customer.postcode,
            city=customer.city,
        )
    return row


_Row = tuple[Customer, CustomerActivity]


class _ExampleCollector(PairCollector[_Row, SeedExample]):
    """Remembers the first customer (or pair) of each interesting case while seeding."""

    def add(self, customer: Customer, activity: CustomerActivity) -> None:
        if customer.special is not None:
            pair = self.pair(customer, (customer, activity))
            if pair is not None:
                self._remember(pair_label(customer), pair)
        elif customer.status == "active" and customer.kind == "person":
            self._remember("plain_person", [(customer, activity)])
        elif customer.status == "active" and customer.kind == "company":
            self._remember("company_contact", [(customer, activity)])

    def _remember(self, label: str, rows: Iterable[_Row]) -> None:
        if label in self.found:
            return
        rows = list(rows)
        self.found[label] = SeedExample(
            label=label,
            **customer_identifiers([c for c, _ in rows]),
            expected_counts=add_counts(CATEGORIES, (category_counts(c, a) for c, a in rows)),
        )

    def result(self) -> SeedExamples:
        return SeedExamples(**self.found)
