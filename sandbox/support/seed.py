"""Create the support desk's database and fill it with the generated customers' support history.

    summary = await seed_support("sqlite+aiosqlite:///support.db", customers=10_000, seed=1)

The schema is dropped and created again, customers are streamed from the generator and their
rows inserted in batches (executemany), and the lookup indexes are built after the load, so a
million customers never sit in memory. Who has a user here is decided by `sandbox.presence`, the
same table every system's seeder uses, so one person can be followed across all five systems.

`heavy_tickets=N` (or `add_heavy_user` on an existing database) adds one deterministic customer
with N tickets, for the export memory benchmark: a subject whose history does not fit a page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox._seeding import (
    BatchLoader,
    PairCollector,
    add_counts,
    async_database_url,
    connect,
    elapsed,
    finish_load,
    fresh_database,
    pair_label,
    reset_sequences,
)
from sandbox.people import Customer, customer_at
from sandbox.support.records import (
    AGENTS,
    ATTACHMENT_HOST,
    CATEGORIES,
    SupportActivity,
    Ticket,
    heavy_tickets,
    support_activity,
)
from sandbox.support.schema import (
    attachments,
    calls,
    comments,
    metadata,
    organizations,
    satisfaction_ratings,
    tickets,
    users,
)

__all__ = [
    "HEAVY_INDEX",
    "SeededSupport",
    "SupportSeedExample",
    "SupportSeedExamples",
    "SupportSeedSummary",
    "add_heavy_user",
    "async_database_url",
    "seed_support",
    "seeded_support",
]

# The row index of the heavy user: slot 0 of a block (always an active private person), far
# beyond any seeded customer count, so it is nobody else.
HEAVY_INDEX = 4_999_950
_AGENTS_CREATED = datetime(2016, 6, 1, 8, 0, tzinfo=UTC)

# Parents before children: the order rows are flushed in.
_TABLES: tuple[Table, ...] = (
    organizations,
    users,
    tickets,
    comments,
    attachments,
    calls,
    satisfaction_ratings,
)


class SupportSeedExample(BaseModel):
    """A seeded subject: its identifiers and the counts the support connector should find when
    it is searched by all of them."""

    model_config = ConfigDict(frozen=True)

    label: str
    customer_numbers: list[str]
    names: list[str]
    emails: list[str]
    phones: list[str]
    personal_identity_numbers: list[str] = Field(default_factory=list)
    expected_counts: dict[str, int]
    legal_hold_tickets: int = 0


class SupportSeedExamples(BaseModel):
    """One example of each case; None when too few customers were seeded to contain it."""

    model_config = ConfigDict(frozen=True)

    plain_person: SupportSeedExample | None = None
    company_contact: SupportSeedExample | None = None
    two_email_person: SupportSeedExample | None = None
    shared_email_pair: SupportSeedExample | None = None
    legal_hold_person: SupportSeedExample | None = None
    heavy_user: SupportSeedExample | None = None


class SupportSeedSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    database: str  # the URL with any password hidden
    seed: int
    customers: int
    counts: dict[str, int]  # rows per table
    examples: SupportSeedExamples
    seconds: float


@dataclass(frozen=True, slots=True)
class SeededSupport:
    """A customer as seeded (without a database): the row, its support history, the counts."""

    customer: Customer
    activity: SupportActivity

    @property
    def counts(self) -> dict[str, int]:
        return self.activity.counts


def seeded_support(index: int, seed: int) -> SeededSupport:
    """Row `index` of a database seeded with `seed` (and more than `index` customers)."""
    customer = customer_at(index, seed)
    return SeededSupport(customer, support_activity(customer, seed))


async def seed_support(
    database_url: str,
    customers: int,
    seed: int,
    *,
    heavy_tickets: int = 0,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> SupportSeedSummary:
    """Drop and create the support schema, then insert the support history of `customers`
    generated customers (and, with `heavy_tickets`, the heavy user).

    `progress(n)` is called with the number of customers written after every batch.
    """
    if customers < 0 or heavy_tickets < 0:
        raise ValueError("customers and heavy_tickets must not be negative")
    if heavy_tickets and customers > HEAVY_INDEX:
        raise ValueError(f"the heavy user is row {HEAVY_INDEX}: seed fewer customers")
    started = time.perf_counter()
    url = async_database_url(database_url)
    counts = dict.fromkeys((t.name for t in _TABLES), 0)
    examples = _ExampleCollector()
    heavy: SupportSeedExample | None = None
    async with fresh_database(url, metadata) as conn:
        loader = _Loader(conn, batch_size, counts)
        loader.add_agents()

        def add(customer: Customer) -> None:
            activity = support_activity(customer, seed)
            examples.add(customer, activity)
            if activity.user is not None:
                loader.add(customer, activity)

        await loader.load_customers(customers, seed, add, progress)
        if heavy_tickets:
            heavy = await _add_heavy(loader, heavy_tickets, seed)
        # PostgreSQL: ids were given explicitly, so each serial moves past the largest one.
        await finish_load(conn, metadata, serials=_TABLES)
    found = examples.result()
    if heavy is not None:
        found = found.model_copy(update={"heavy_user": heavy})
    return SupportSeedSummary(
        database=url.render_as_string(hide_password=True),
        seed=seed,
        customers=customers,
        counts=counts,
        examples=found,
        seconds=elapsed(started),
    )


async def add_heavy_user(
    database_url: str, tickets: int, seed: int, *, batch_size: int = 5000
) -> SupportSeedExample:
    """Add the heavy user (row HEAVY_INDEX of the people generator) with `tickets` tickets to an
    existing support database, and return it as an example with its expected counts."""
    if tickets < 0:
        raise ValueError("tickets must not be negative")
    url = async_database_url(database_url)
    counts = dict.fromkeys((t.name for t in _TABLES), 0)
    async with connect(url) as conn:
        customer = customer_at(HEAVY_INDEX, seed)
        taken = await conn.scalar(
            select(func.count()).where(users.c.external_id == customer.customer_number)
        )
        if taken:
            raise ValueError("the heavy user is already in this database")
        loader = _Loader(conn, batch_size, counts)
        await loader.continue_ids()
        example = await _add_heavy(loader, tickets, seed)
        if url.get_backend_name() == "postgresql":
            await reset_sequences(conn, _TABLES)
        await conn.commit()
    return example


async def _add_heavy(loader: _Loader, count: int, seed: int) -> SupportSeedExample:
    customer = customer_at(HEAVY_INDEX, seed)
    totals = dict.fromkeys(CATEGORIES, 0)
    totals["user"] = 1
    user_id = loader.add_user(
        name=customer.name,
        email=customer.email.lower(),
        phone=customer.phone,
        external_id=customer.customer_number,
        organization_id=None,
        created_at=customer.created_at,
    )
    held = 0
    for ticket in heavy_tickets(customer, count, seed):
        loader.add_ticket(user_id, None, ticket)
        totals["tickets"] += 1
        totals["comments"] += len(ticket.comments)
        totals["attachments"] += ticket.attachments
        totals["satisfaction_ratings"] += ticket.rating is not None
        held += ticket.legal_hold
        if loader.should_flush():
            await loader.flush()
    await loader.flush()
    return SupportSeedExample(
        label="heavy_user",
        customer_numbers=[customer.customer_number],
        names=[customer.name],
        emails=[customer.email.lower()],
        phones=[customer.phone],
        personal_identity_numbers=[p for p in (customer.personal_identity_number,) if p],
        expected_counts=totals,
        legal_hold_tickets=held,
    )


class _Loader(BatchLoader):
    """Support rows, with the ids given here: agents, end users and their organisations,
    tickets with comments, attachments and ratings, and calls."""

    def __init__(self, conn: AsyncConnection, batch_size: int, counts: dict[str, int]) -> None:
        super().__init__(conn, _TABLES, batch_size, counts)
        self._next_id: dict[str, int] = dict.fromkeys(self.rows, 1)

    async def continue_ids(self) -> None:
        """Adding to an existing database: new ids follow the largest ones there."""
        for table in _TABLES:
            largest = await self._conn.scalar(select(func.max(table.c.id)))
            self._next_id[table.name] = int(largest or 0) + 1

    def _id(self, table: str) -> int:
        value = self._next_id[table]
        self._next_id[table] = value + 1
        return value

    def add_agents(self) -> None:
        for name, email in AGENTS:
            self.rows["users"].append(
                {
                    "id": self._id("users"),
                    "name": name,
                    "email": email,
                    "phone": None,
                    "role": "agent",
                    "organization_id": None,
                    "external_id": None,
                    "created_at": _AGENTS_CREATED,
                    "updated_at": _AGENTS_CREATED,
                    "active": True,
                    "deleted_at": None,
                }
            )

    def add_user(
        self,
        *,
        name: str,
        email: str | None,
        phone: str | None,
        external_id: str,
        organization_id: int | None,
        created_at: datetime,
    ) -> int:
        user_id = self._id("users")
        self.rows["users"].append(
            {
                "id": user_id,
                "name": name,
                "email": email,
                "phone": phone,
                "role": "end-user",
                "organization_id": organization_id,
                "external_id": external_id,
                "created_at": created_at,
                "updated_at": created_at,
                "active": True,
                "deleted_at": None,
            }
        )
        return user_id

    def add(self, customer: Customer, activity: SupportActivity) -> None:
        user = activity.user
        if user is None:
            return
        organization_id = None
        if user.organization is not None:
            organization_id = self._id("organizations")
            self.rows["organizations"].append(
                {
                    "id": organization_id,
                    "name": user.organization[0],
                    "organization_number": user.organization[1],
                    "created_at": user.created_at,
                }
            )
        user_id = self.add_user(
            name=user.name,
            email=user.email,
            phone=user.phone,
            external_id=user.external_id,
            organization_id=organization_id,
            created_at=user.created_at,
        )
        ticket_ids = [self.add_ticket(user_id, organization_id, t) for t in activity.tickets]
        for call in activity.calls:
            call_id = self._id("calls")
            self.rows["calls"].append(
                {
                    "id": call_id,
                    "user_id": user_id,
                    "ticket_id": None if call.ticket is None else ticket_ids[call.ticket],
                    "direction": call.direction,
                    "started_at": call.started_at,
                    "duration": call.duration,
                    "recording_url": (
                        f"{ATTACHMENT_HOST}/api/v2/channels/voice/calls/{call_id}/recording.mp3"
                    ),
                }
            )

    def add_ticket(self, user_id: int, organization_id: int | None, ticket: Ticket) -> int:
        ticket_id = self._id("tickets")
        self.rows["tickets"].append(
            {
                "id": ticket_id,
                "subject": ticket.subject,
                "status": ticket.status,
                "requester_id": user_id,
                "submitter_id": user_id,
                "assignee_id": None,
                "organization_id": organization_id,
                "tags": " ".join(ticket.tags),
                "external_id": None,
                "via_channel": ticket.via,
                "created_at": ticket.created_at,
                "updated_at": ticket.updated_at,
            }
        )
        for comment in ticket.comments:
            comment_id = self._id("comments")
            author = user_id if comment.agent is None else comment.agent + 1  # agents: ids 1..
            self.rows["comments"].append(
                {
                    "id": comment_id,
                    "ticket_id": ticket_id,
                    "author_id": author,
                    "body": comment.body,
                    "public": comment.public,
                    "created_at": comment.created_at,
                }
            )
            for attachment in comment.attachments:
                self.rows["attachments"].append(
                    {
                        "id": self._id("attachments"),
                        "comment_id": comment_id,
                        "file_name": attachment.file_name,
                        "content_type": attachment.content_type,
                        "size": attachment.size,
                        "content_url": (
                            f"{ATTACHMENT_HOST}/attachments/token/{attachment.token}/"
                            f"?name={attachment.file_name}"
                        ),
                    }
                )
        if ticket.rating is not None:
            self.rows["satisfaction_ratings"].append(
                {
                    "id": self._id("satisfaction_ratings"),
                    "ticket_id": ticket_id,
                    "user_id": user_id,
                    "score": ticket.rating.score,
                    "comment": ticket.rating.comment,
                    "created_at": ticket.rating.created_at,
                }
            )
        return ticket_id


_Row = tuple[Customer, SupportActivity]


class _ExampleCollector(PairCollector[_Row, SupportSeedExample]):
    """Remembers the first customer (or pair) of each interesting case while seeding."""

    def add(self, customer: Customer, activity: SupportActivity) -> None:
        if activity.user is None:
            return
        if customer.special is not None:
            pair = self.pair(customer, (customer, activity))
            if pair is not None:
                self._remember(pair_label(customer), pair)
        elif customer.status == "active" and customer.kind == "person":
            self._remember("plain_person", [(customer, activity)])
            if activity.legal_hold_tickets and len(activity.legal_hold_tickets) < len(
                activity.tickets
            ):
                self._remember("legal_hold_person", [(customer, activity)])
        elif customer.status == "active" and customer.kind == "company":
            self._remember("company_contact", [(customer, activity)])

    def _remember(self, label: str, rows: Iterable[_Row]) -> None:
        if label in self.found:
            return
        rows = list(rows)
        seen = [a.user for _, a in rows if a.user is not None]
        self.found[label] = SupportSeedExample(
            label=label,
            customer_numbers=[c.customer_number for c, _ in rows],
            names=list(dict.fromkeys(u.name for u in seen)),
            emails=list(dict.fromkeys(u.email for u in seen if u.email)),
            phones=list(dict.fromkeys(u.phone for u in seen if u.phone)),
            personal_identity_numbers=list(
                dict.fromkeys(
                    c.personal_identity_number for c, _ in rows if c.personal_identity_number
                )
            ),
            expected_counts=add_counts(CATEGORIES, (a.counts for _, a in rows)),
            legal_hold_tickets=sum(len(a.legal_hold_tickets) for _, a in rows),
        )

    def result(self) -> SupportSeedExamples:
        return SupportSeedExamples(**self.found)
