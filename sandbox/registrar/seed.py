"""Create the registrar sandbox database and fill it with the generated customers' registrations.

    summary = await seed_registrar("sqlite+aiosqlite:///registrar.db", customers=10_000, seed=1)

The schema is dropped and created again, rows are streamed from the generator and inserted in
batches (executemany), and the lookup indexes are built after the load, so a million customers
never sit in memory and the load does not pay for index maintenance row by row. The summary holds
row counts and example subjects (the interesting cases) for the CLI, the README and tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.schema import CreateTable

from sandbox.people import Customer, customer_at, generate_customers
from sandbox.registrar.records import (
    HOSTMASTER,
    RegistrarContact,
    RegistrarRecords,
    registrar_records,
)
from sandbox.registrar.schema import (
    contacts,
    domain_contacts,
    domains,
    metadata,
    registry_updates,
)

__all__ = [
    "CATEGORIES",
    "RegistrarSeedExample",
    "RegistrarSeedExamples",
    "RegistrarSeedSummary",
    "async_database_url",
    "seed_registrar",
    "seeded_registrar",
]

# The categories the registrar connector reports, in its order.
CATEGORIES = ("contacts", "domains", "registry_updates")
_TABLES: tuple[Table, ...] = (contacts, domains, domain_contacts, registry_updates)


class RegistrarSeedExample(BaseModel):
    """A seeded subject: its identifiers, handles and domains, and the counts the registrar
    connector should find when it is searched by all of them."""

    model_config = ConfigDict(frozen=True)

    label: str
    customer_numbers: list[str]
    names: list[str]
    emails: list[str]
    phones: list[str]
    personal_identity_numbers: list[str] = Field(default_factory=list)
    organisation_numbers: list[str] = Field(default_factory=list)
    handles: list[str]
    domains: dict[str, str]  # domain name -> status
    expected_counts: dict[str, int]


class RegistrarSeedExamples(BaseModel):
    """One example of each case; None when too few customers were seeded to contain it.

    `plain_person` is customer index 0, who is present in all five systems."""

    model_config = ConfigDict(frozen=True)

    plain_person: RegistrarSeedExample | None = None
    company_contact: RegistrarSeedExample | None = None
    two_email_person: RegistrarSeedExample | None = None
    shared_email_pair: RegistrarSeedExample | None = None
    active_domain_holder: RegistrarSeedExample | None = None
    lapsed_domains_only: RegistrarSeedExample | None = None


class RegistrarSeedSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    database: str  # the URL with any password hidden
    seed: int
    customers: int  # generated customers (not all of them are in the registrar)
    counts: dict[str, int]  # rows per table
    examples: RegistrarSeedExamples
    seconds: float


def seeded_registrar(index: int, seed: int) -> RegistrarRecords:
    """Row `index`'s registrar records in a database seeded with `seed` (and more than `index`
    customers); `.counts` are the expected per-category counts, `.present` whether it is here."""
    return registrar_records(customer_at(index, seed), seed)


def async_database_url(database_url: str | URL) -> URL:
    """`sqlite://` and `postgresql://` URLs with their asyncio drivers (aiosqlite, asyncpg)."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite" and url.get_driver_name() != "aiosqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and url.get_driver_name() != "asyncpg":
        url = url.set(drivername="postgresql+asyncpg")
    return url


async def seed_registrar(
    database_url: str,
    customers: int,
    seed: int,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> RegistrarSeedSummary:
    """Drop and create the registrar schema, then insert the registrations of `customers`
    generated customers. `progress(n)` is called with the customers done after every batch."""
    if customers < 0:
        raise ValueError("customers must not be negative")
    started = time.perf_counter()
    url = async_database_url(database_url)
    engine = create_async_engine(url, hide_parameters=True)
    counts = {t.name: 0 for t in _TABLES}
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
            loader.add_contact(HOSTMASTER)
            for customer in generate_customers(customers, seed):
                records = registrar_records(customer, seed)
                if not records.present:
                    continue
                examples.add(records)
                loader.add(records)
                if loader.should_flush():
                    await loader.flush()
                    if progress is not None:
                        progress(customer.index + 1)
            await loader.flush()
            if progress is not None:
                progress(customers)
            await conn.run_sync(_create_indexes)
            if url.get_backend_name() == "postgresql":
                await _reset_sequences(conn)
            await conn.commit()
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()
    finally:
        await engine.dispose()
    return RegistrarSeedSummary(
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


async def _reset_sequences(conn: AsyncConnection) -> None:
    """Ids were inserted explicitly; PostgreSQL's sequences must continue after them."""
    for table in _TABLES:
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608 - fixed names
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
            )
        )


class _Loader:
    """Buffers rows per table and writes them in foreign-key order with executemany."""

    def __init__(self, conn: AsyncConnection, batch_size: int, counts: dict[str, int]) -> None:
        self._conn = conn
        self._batch_size = max(1, batch_size)
        self._counts = counts
        self._rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in _TABLES}
        self._domain_id = 0
        self._update_id = 0

    def add_contact(self, contact: RegistrarContact) -> None:
        self._rows["contacts"].append(_contact_row(contact))

    def add(self, records: RegistrarRecords) -> None:
        for contact in records.contacts:
            self.add_contact(contact)
        for domain in records.domains:
            self._domain_id += 1
            self._rows["domains"].append(
                {
                    "id": self._domain_id,
                    "name": domain.name,
                    "registry": domain.registry,
                    "status": domain.status,
                    "created_at": domain.created_at,
                    "expires_at": domain.expires_at,
                }
            )
            self._rows["domain_contacts"].extend(
                {"domain_id": self._domain_id, "contact_id": contact_id, "role": role}
                for contact_id, role in domain.roles
            )
        for update in records.updates:
            self._update_id += 1
            self._rows["registry_updates"].append(
                {
                    "id": self._update_id,
                    "registry": update.registry,
                    "handle": update.handle,
                    "action": update.action,
                    "fields": ",".join(update.fields),
                    "created_at": update.created_at,
                }
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


def _contact_row(contact: RegistrarContact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "handle": contact.handle,
        "kind": contact.kind,
        "name": contact.name,
        "organisation": contact.organisation,
        "organisation_number": contact.organisation_number,
        "personal_identity_number": contact.personal_identity_number,
        "email": contact.email,
        "phone": contact.phone,
        "street": contact.street,
        "postcode": contact.postcode,
        "city": contact.city,
        "country": contact.country,
        "customer_number": contact.customer_number,
        "registries": " ".join(contact.registries),
        "disclose": contact.disclose,
        "restricted": False,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


class _ExampleCollector:
    """Remembers the first customer (or pair) of each interesting case while seeding."""

    def __init__(self) -> None:
        self._found: dict[str, RegistrarSeedExample] = {}
        self._pending: dict[int, RegistrarRecords] = {}

    def add(self, records: RegistrarRecords) -> None:
        customer = records.customer
        if customer.special is not None:
            partner = None
            if customer.partner_index is not None:
                partner = self._pending.pop(customer.partner_index, None)
            if partner is None:
                self._pending[customer.index] = records
                return
            label = "two_email_person" if customer.special == "two_emails" else "shared_email_pair"
            self._remember(label, [partner, records])
            return
        if customer.status == "active" and customer.kind == "person":
            self._remember("plain_person", [records])
            if records.domains_with("active"):
                self._remember("active_domain_holder", [records])
        elif customer.status == "active" and customer.kind == "company":
            self._remember("company_contact", [records])
        if records.domains and not records.domains_with("active"):
            self._remember("lapsed_domains_only", [records])

    def _remember(self, label: str, rows: list[RegistrarRecords]) -> None:
        if label in self._found:
            return
        totals = dict.fromkeys(CATEGORIES, 0)
        for records in rows:
            for category, count in records.counts.items():
                totals[category] += count
        people: list[Customer] = [r.customer for r in rows]
        self._found[label] = RegistrarSeedExample(
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
            handles=[h for r in rows for h in r.handles],
            domains={d.name: d.status for r in rows for d in r.domains},
            expected_counts=totals,
        )

    def result(self) -> RegistrarSeedExamples:
        return RegistrarSeedExamples(**self._found)
