"""Create the newsletter sandbox database and fill it from the customer generator.

    summary = await seed_newsletter("sqlite+aiosqlite:///newsletter.db", customers=10_000, seed=1)

The schema is dropped and created again; the lists, campaigns and links come first, then the
subscribers (customers per `sandbox.presence`, plus non-customer prospects) are streamed from the
generator and inserted in batches (executemany), and the lookup indexes are built after the load.
So a million customers never sit in memory, and the load does not pay for index maintenance row
by row. `seeded_newsletter(index, seed)` gives the rows of one customer without a database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox._seeding import (
    BatchLoader,
    PairCollector,
    add_counts,
    elapsed,
    finish_load,
    fresh_database,
)
from sandbox.newsletter.hashing import DEFAULT_BLOCKLIST_SALT, blocklist_hash
from sandbox.newsletter.records import (
    NewsletterActivity,
    SubscriberRecord,
    catalogue,
    newsletter_activity,
)
from sandbox.newsletter.schema import (
    blocklist_hashes,
    campaign_views,
    campaigns,
    link_clicks,
    links,
    lists,
    metadata,
    subscriber_lists,
    subscribers,
)
from sandbox.people import Customer, customer_at

__all__ = [
    "CATEGORIES",
    "NewsletterSeedSummary",
    "SeedExample",
    "SeedExamples",
    "SeededNewsletterCustomer",
    "category_counts",
    "seed_newsletter",
    "seeded_newsletter",
    "sqlite_database_url",
]

# The categories the newsletter connector reports, in its order.
CATEGORIES = ("subscriber", "subscriptions", "campaign_views", "link_clicks", "blocklist")
# Tables in foreign-key order: parents first.
_TABLES: tuple[Table, ...] = (
    lists,
    links,
    campaigns,
    subscribers,
    subscriber_lists,
    campaign_views,
    link_clicks,
    blocklist_hashes,
)
_STREAMED = (subscribers, subscriber_lists, campaign_views, link_clicks, blocklist_hashes)


class SeedExample(BaseModel):
    """A seeded subject: its identifiers and the counts the newsletter connector should find when
    it is searched by all of them (`ambiguous`: the connector must refuse to act on it)."""

    model_config = ConfigDict(frozen=True)

    label: str
    customer_numbers: list[str] = Field(default_factory=list)
    names: list[str]
    emails: list[str]
    expected_counts: dict[str, int]
    ambiguous: bool = False
    note: str = ""


class SeedExamples(BaseModel):
    """One example of each case; None when too few customers were seeded to contain it.

    `everywhere` is customer index 0 (slot 0 of block 0): present in all five systems.
    """

    model_config = ConfigDict(frozen=True)

    everywhere: SeedExample | None = None
    company_contact: SeedExample | None = None
    two_email_person: SeedExample | None = None
    shared_email_pair: SeedExample | None = None
    previously_erased: SeedExample | None = None
    prospect: SeedExample | None = None


class NewsletterSeedSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    database: str  # the URL with any password hidden
    seed: int
    customers: int
    counts: dict[str, int]  # rows per table
    examples: SeedExamples
    seconds: float


@dataclass(frozen=True, slots=True)
class SeededNewsletterCustomer:
    """A customer row as seeded (without a database): the newsletter rows and expected counts."""

    customer: Customer
    activity: NewsletterActivity

    @property
    def counts(self) -> dict[str, int]:
        """What locate finds searching by the customer's e-mail address and customer number."""
        return category_counts(self.activity)


def seeded_newsletter(index: int, seed: int) -> SeededNewsletterCustomer:
    """Customer row `index` of a sandbox seeded with `seed` (and more than `index` customers)."""
    customer = customer_at(index, seed)
    return SeededNewsletterCustomer(customer, newsletter_activity(customer, seed))


def category_counts(activity: NewsletterActivity) -> dict[str, int]:
    """Records per newsletter category for one customer row's own subscriber (not its prospect,
    and not a shared address subscribed under the partner row)."""
    counts = dict.fromkeys(CATEGORIES, 0)
    counts["blocklist"] = int(activity.blocklisted)
    if activity.subscriber is not None:
        counts.update(_subscriber_counts(activity.subscriber))
    return counts


def _subscriber_counts(record: SubscriberRecord) -> dict[str, int]:
    return {
        "subscriber": 1,
        "subscriptions": len(record.subscriptions),
        "campaign_views": len(record.views),
        "link_clicks": len(record.clicks),
    }


def sqlite_database_url(database_url: str | URL) -> URL:
    """The URL with SQLite's asyncio driver; the newsletter sandbox runs on SQLite only."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ValueError("the newsletter sandbox runs on SQLite")
    if url.get_driver_name() != "aiosqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    return url


async def seed_newsletter(
    database_url: str,
    customers: int,
    seed: int,
    *,
    batch_size: int = 5000,
    blocklist_salt: str = DEFAULT_BLOCKLIST_SALT,
    progress: Callable[[int], None] | None = None,
) -> NewsletterSeedSummary:
    """Drop and create the newsletter schema, then load the subscribers of `customers` rows.

    `blocklist_salt` must be the salt the app (option `blocklist_salt`) and the connector use.
    `progress(n)` is called with the number of customer rows done after every batch.
    """
    if customers < 0:
        raise ValueError("customers must not be negative")
    started = time.perf_counter()
    url = sqlite_database_url(database_url)
    counts = dict.fromkeys((t.name for t in _TABLES), 0)
    examples = _ExampleCollector()
    async with fresh_database(url, metadata) as conn:
        await _load_catalogue(conn, counts)
        loader = _Loader(conn, batch_size, counts, blocklist_salt)

        def add(customer: Customer) -> None:
            activity = newsletter_activity(customer, seed)
            examples.add(customer, activity)
            loader.add(customer, activity)

        await loader.load_customers(customers, seed, add, progress)
        await finish_load(conn, metadata)
    return NewsletterSeedSummary(
        database=url.render_as_string(hide_password=True),
        seed=seed,
        customers=customers,
        counts=counts,
        examples=examples.result(),
        seconds=elapsed(started),
    )


async def _load_catalogue(conn: AsyncConnection, counts: dict[str, int]) -> None:
    content = catalogue()
    created = datetime(2016, 12, 1, 9, 0, tzinfo=UTC)
    rows: dict[Table, list[dict[str, Any]]] = {
        lists: [
            {
                "id": nl.id,
                "uuid": nl.uuid,
                "name": nl.name,
                "type": nl.type,
                "optin": nl.optin,
                "description": nl.description,
                "created_at": created,
                "updated_at": created,
            }
            for nl in content.lists
        ],
        links: [
            {"id": link.id, "uuid": link.uuid, "url": link.url, "created_at": link.created_at}
            for link in content.links
        ],
        campaigns: [
            {
                "id": c.id,
                "uuid": c.uuid,
                "name": c.name,
                "subject": c.subject,
                "list_id": c.list_id,
                "status": "finished",
                "created_at": c.started_at,
                "started_at": c.started_at,
            }
            for c in content.campaigns
        ],
    }
    for table, table_rows in rows.items():
        await conn.execute(table.insert(), table_rows)
        counts[table.name] += len(table_rows)
    await conn.commit()


class _Loader(BatchLoader):
    """The streamed rows (the catalogue is loaded before): subscribers and prospects with their
    subscriptions, views and clicks, and the blocklist's salted hashes."""

    def __init__(
        self, conn: AsyncConnection, batch_size: int, counts: dict[str, int], salt: str
    ) -> None:
        super().__init__(conn, _STREAMED, batch_size, counts)
        self._salt = salt
        self._subscriber_id = 0

    def add(self, customer: Customer, activity: NewsletterActivity) -> None:
        for record in (activity.subscriber, activity.prospect):
            if record is not None:
                self._add_subscriber(record)
        if activity.blocklisted:  # erased on request earlier: only the salted hash is left
            self.rows["blocklist_hashes"].append(
                {
                    "hash": blocklist_hash(customer.email, self._salt),
                    "created_at": customer.anonymised_at or customer.created_at,
                }
            )

    def _add_subscriber(self, record: SubscriberRecord) -> None:
        self._subscriber_id += 1
        subscriber_id = self._subscriber_id
        self.rows["subscribers"].append(
            {
                "id": subscriber_id,
                "uuid": record.uuid,
                "email": record.email,
                "name": record.name,
                "attribs": record.attribs,
                "status": record.status,
                "created_at": record.created_at,
                "updated_at": record.updated_at,
            }
        )
        self.rows["subscriber_lists"].extend(
            {
                "subscriber_id": subscriber_id,
                "list_id": s.list_id,
                "status": s.status,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
            }
            for s in record.subscriptions
        )
        self.rows["campaign_views"].extend(
            {
                "campaign_id": v.campaign_id,
                "subscriber_id": subscriber_id,
                "created_at": v.created_at,
            }
            for v in record.views
        )
        self.rows["link_clicks"].extend(
            {
                "campaign_id": c.campaign_id,
                "link_id": c.link_id,
                "subscriber_id": subscriber_id,
                "created_at": c.created_at,
            }
            for c in record.clicks
        )


class _ExampleCollector(PairCollector[tuple[Customer, NewsletterActivity], SeedExample]):
    """Remembers the first customer (or pair) of each interesting case while seeding."""

    def add(self, customer: Customer, activity: NewsletterActivity) -> None:
        if activity.prospect is not None and "prospect" not in self.found:
            self.found["prospect"] = _example("prospect", [], [activity.prospect])
        if customer.special is not None:
            self._add_pair_member(customer, activity)
        elif activity.blocklisted and "previously_erased" not in self.found:
            self.found["previously_erased"] = SeedExample(
                label="previously_erased",
                customer_numbers=[customer.customer_number],
                names=[customer.contact_name or customer.name],
                emails=[customer.email],
                expected_counts=category_counts(activity),
                note="erased earlier: only the salted hash of the address is on the blocklist",
            )
        elif activity.subscriber is not None and customer.status == "active":
            label = "everywhere" if customer.kind == "person" else "company_contact"
            if label == "everywhere" and customer.index != 0:
                return
            if label not in self.found:
                self.found[label] = _example(label, [customer], [activity.subscriber])

    def _add_pair_member(self, customer: Customer, activity: NewsletterActivity) -> None:
        pair = self.pair(customer, (customer, activity))
        if pair is None:
            return
        (first, first_activity), (second, second_activity) = pair
        records = [
            r for r in (first_activity.subscriber, second_activity.subscriber) if r is not None
        ]
        if not records:
            return
        if customer.special == "two_emails" and "two_email_person" not in self.found:
            self.found["two_email_person"] = _example("two_email_person", [first, second], records)
        elif customer.special == "shared_email" and "shared_email_pair" not in self.found:
            example = _example("shared_email_pair", [first, second], records)
            self.found["shared_email_pair"] = example.model_copy(
                update={
                    "names": [first.name, second.name],
                    "ambiguous": True,
                    "note": (
                        "one subscriber for a shared address, under the first person's name and "
                        "customer number: asked with the second person's name or customer "
                        "number, the connector reports it ambiguous"
                    ),
                }
            )

    def result(self) -> SeedExamples:
        return SeedExamples(**self.found)


def _example(label: str, people: list[Customer], records: list[SubscriberRecord]) -> SeedExample:
    return SeedExample(
        label=label,
        customer_numbers=[c.customer_number for c in people],
        names=list(dict.fromkeys(r.name for r in records)),
        emails=list(dict.fromkeys(r.email for r in records)),
        expected_counts=add_counts(CATEGORIES, (_subscriber_counts(r) for r in records)),
    )
