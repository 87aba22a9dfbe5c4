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
from sqlalchemy import Connection, Table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.schema import CreateTable

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
from sandbox.people import Customer, customer_at, generate_customers

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


def async_database_url(database_url: str | URL) -> URL:
    """`sqlite://` and `postgresql://` URLs with their asyncio drivers (aiosqlite, asyncpg)."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite" and url.get_driver_name() != "aiosqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and url.get_driver_name() != "asyncpg":
        url = url.set(drivername="postgresql+asyncpg")
    return url


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
    engine = create_async_engine(url, hide_parameters=True)
    counts = dict.fromkeys((t.name for t in _TABLES), 0)
    examples = _ExampleCollector()
    try:
        async with engine.connect() as conn:
            if url.get_backend_name() == "sqlite":
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                await conn.exec_driver_sql("PRAGMA synchronous=OFF")
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(_create_tables)
            await conn.commit()
            loader = _Loader(conn, batch_size, counts)
            for customer in generate_customers(customers, seed):
                activity = customer_activity(customer, seed)
                examples.add(customer, activity)
                await loader.add(customer, activity)
                if loader.should_flush():
                    await loader.flush()
                    if progress is not None:
                        progress(customer.index + 1)
            await loader.flush()
            if progress is not None:
                progress(customers)
            await conn.run_sync(_create_indexes)
            if url.get_backend_name() == "postgresql":
                for table in (customers_table, invoices):
                    await conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608 - fixed names
                            f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
                        )
                    )
            await conn.commit()
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()
    finally:
        await engine.dispose()
    return SeedSummary(
        database=url.render_as_string(hide_password=True),
        seed=seed,
        customers=customers,
        counts=counts,
        examples=examples.result(),
        seconds=round(time.perf_counter() - started, 3),
    )


def _create_tables(conn: Connection) -> None:
    for table in metadata.sorted_tables:
        conn.execute(CreateTable(table))


def _create_indexes(conn: Connection) -> None:
    for table in metadata.sorted_tables:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            index.create(conn)


class _Loader:
    """Buffers rows per table and writes them in foreign-key order with executemany."""

    def __init__(self, conn: AsyncConnection, batch_size: int, counts: dict[str, int]) -> None:
        self._conn = conn
        self._batch_size = max(1, batch_size)
        self._counts = counts
        self._rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in _TABLES}
        self._invoice_id = 0

    async def add(self, customer: Customer, activity: CustomerActivity) -> None:
        customer_id = customer.index + 1
        self._rows["customers"].append(_customer_row(customer, customer_id))
        for invoice in activity.invoices:
            self._invoice_id += 1
            invoice_id = self._invoice_id
            self._rows["invoices"].append(
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
            self._rows["invoice_lines"].extend(
                {
                    "invoice_id": invoice_id,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price_ore": line.unit_price_ore,
                }
                for line in invoice.lines
            )
            self._rows["payments"].extend(
                {
                    "invoice_id": invoice_id,
                    "paid_on": payment.paid_on,
                    "amount_ore": payment.amount_ore,
                    "method": payment.method,
                    "reference": payment.reference,
                }
                for payment in invoice.payments
            )
        self._rows["card_tokens"].extend(
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
        self._rows["login_sessions"].extend(
            {
                "customer_id": customer_id,
                "started_at": session.started_at,
                "ip_address": session.ip_address,
                "user_agent": session.user_agent,
            }
            for session in activity.login_sessions
        )

    def should_flush(self) -> bool:
        return any(len(rows) >= self._batch_size for rows in self._rows.values())

    async def flush(self) -> None:
        for table in _TABLES:  # parents before children
            rows = self._rows[table.name]
            if rows:
                await self._conn.execute(table.insert(), rows)
                self._counts[table.name] += len(rows)
                self._rows[table.name] = []
        await self._conn.commit()


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


class _ExampleCollector:
    """Remembers the first customer (or pair) of each interesting case while seeding."""

    def __init__(self) -> None:
        self._found: dict[str, SeedExample] = {}
        self._pending: dict[int, tuple[Customer, CustomerActivity]] = {}

    def add(self, customer: Customer, activity: CustomerActivity) -> None:
        if customer.special is not None:
            partner = None
            if customer.partner_index is not None:
                partner = self._pending.pop(customer.partner_index, None)
            if partner is None:
                self._pending[customer.index] = (customer, activity)
                return
            label = "two_email_person" if customer.special == "two_emails" else "shared_email_pair"
            self._remember(label, [partner, (customer, activity)])
        elif customer.status == "active" and customer.kind == "person":
            self._remember("plain_person", [(customer, activity)])
        elif customer.status == "active" and customer.kind == "company":
            self._remember("company_contact", [(customer, activity)])

    def _remember(self, label: str, rows: Iterable[tuple[Customer, CustomerActivity]]) -> None:
        if label in self._found:
            return
        rows = list(rows)
        totals = dict.fromkeys(CATEGORIES, 0)
        for customer, activity in rows:
            for category, count in category_counts(customer, activity).items():
                totals[category] += count
        people = [c for c, _ in rows]
        self._found[label] = SeedExample(
            label=label,
            customer_numbers=[c.customer_number for c in people],
            names=list(dict.fromkeys(c.contact_name or c.name for c in people)),
            emails=list(dict.fromkeys(c.email for c in people)),
            phones=list(dict.fromkeys(c.phone for c in people)),
            personal_identity_numbers=list(
                dict.fromkeys(
                    c.personal_identity_number for c in people if c.personal_identity_number
                )
            ),
            organisation_numbers=list(
                dict.fromkeys(c.organisation_number for c in people if c.organisation_number)
            ),
            expected_counts=totals,
        )

    def result(self) -> SeedExamples:
        return SeedExamples(**self._found)
