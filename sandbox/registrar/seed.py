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
from sandbox.people import Customer, customer_at
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
    counts = {t.name: 0 for t in _TABLES}
    examples = _ExampleCollector()
    async with fresh_database(url, metadata) as conn:
        loader = _Loader(conn, batch_size, counts)
        loader.add_contact(HOSTMASTER)

        def add(customer: Customer) -> None:
            records = registrar_records(customer, seed)
            if records.present:
                examples.add(records)
                loader.add(records)

        await loader.load_customers(customers, seed, add, progress)
        # Ids were inserted explicitly; PostgreSQL's sequences must continue after them.
        await finish_load(conn, metadata, serials=_TABLES)
    return RegistrarSeedSummary(
        database=url.render_as_string(hide_password=True),
        seed=seed,
        customers=customers,
        counts=counts,
        examples=examples.result(),
        seconds=elapsed(started),
    )


class _Loader(BatchLoader):
    """A customer's registrar rows: contacts, domains (ids given here) with their contact roles,
    and registry updates."""

    def __init__(self, conn: AsyncConnection, batch_size: int, counts: dict[str, int]) -> None:
        super().__init__(conn, _TABLES, batch_size, counts)
        self._domain_id = 0
        self._update_id = 0

    def add_contact(self, contact: RegistrarContact) -> None:
        self.rows["contacts"].append(_contact_row(contact))

    def add(self, records: RegistrarRecords) -> None:
        for contact in records.contacts:
            self.add_contact(contact)
        for domain in records.domains:
            self._domain_id += 1
            self.rows["domains"].append(
                {
                    "id": self._domain_id,
                    "name": domain.name,
                    "registry": domain.registry,
                    "status": domain.status,
                    "created_at": domain.created_at,
                    "expires_at": domain.expires_at,
                }
            )
            self.rows["domain_contacts"].extend(
                {"domain_id": self._domain_id, "contact_id": contact_id, "role": role}
                for contact_id, role in domain.roles
            )
        for update in records.updates:
            self._update_id += 1
            self.rows["registry_updates"].append(
                {
                    "id": self._update_id,
                    "registry": update.registry,
                    "handle": update.handle,
                    "action": update.action,
                    "fields": ",".join(update.fields),
                    "created_at": update.created_at,
                }
            )


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


class _ExampleCollector(PairCollector[RegistrarRecords, RegistrarSeedExample]):
    """Remembers the first customer (or pair) of each interesting case while seeding."""

    def add(self, records: RegistrarRecords) -> None:
        customer = records.customer
        if customer.special is not None:
            pair = self.pair(customer, records)
            if pair is not None:
                self._remember(pair_label(customer), pair)
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
        if label in self.found:
            return
        self.found[label] = RegistrarSeedExample(
            label=label,
            **customer_identifiers([r.customer for r in rows]),
            handles=[h for r in rows for h in r.handles],
            domains={d.name: d.status for r in rows for d in r.domains},
            expected_counts=add_counts(CATEGORIES, (r.counts for r in rows)),
        )

    def result(self) -> RegistrarSeedExamples:
        return RegistrarSeedExamples(**self.found)
