"""Create the hosting control panel's database and home directories from generated customers.

    summary = await seed_hosting("sqlite+aiosqlite:///hosting.db", 10_000, seed=1,
                                 home_root=Path("hosting-home"))

The schema is dropped and created again; customers are streamed from the generator, the ones
`sandbox.presence` gives hosting get an account, and rows are inserted in batches (executemany)
with the lookup indexes built after the load, so a million customers never sit in memory. Home
directories are written batch by batch in a worker thread. `seeded_hosting(index, seed)` gives
any customer's expected counts without a database; the summary holds a few example subjects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox._seeding import (
    BatchLoader,
    PairCollector,
    add_counts,
    elapsed,
    finish_load,
    fresh_database,
    pair_label,
    with_async_driver,
)
from sandbox.hosting.records import HostingAccount, hosting_account
from sandbox.hosting.schema import (
    access_logs,
    accounts,
    backups,
    databases,
    domains,
    ftp_users,
    mailboxes,
    metadata,
)
from sandbox.hosting.tree import prepare_home_root, write_homes
from sandbox.people import Customer, customer_at

__all__ = [
    "CATEGORIES",
    "HostingSeedExample",
    "HostingSeedExamples",
    "HostingSeedSummary",
    "SeededHosting",
    "async_database_url",
    "category_counts",
    "seed_hosting",
    "seeded_hosting",
]

# The categories the hosting connector reports, in its order.
CATEGORIES = ("account", "mailboxes", "databases", "ftp_users", "access_logs", "files", "backups")
_DRIVERS = {"sqlite": "aiosqlite", "mysql": "aiomysql", "mariadb": "aiomysql"}
# Parents before children.
_TABLES: tuple[Table, ...] = (
    accounts,
    domains,
    mailboxes,
    databases,
    ftp_users,
    access_logs,
    backups,
)


@dataclass(frozen=True, slots=True)
class SeededHosting:
    """A customer as seeded (without a database): the row, its account if any, the counts."""

    customer: Customer
    account: HostingAccount | None

    @property
    def counts(self) -> dict[str, int]:
        return category_counts(self.account)

    @property
    def backups_until(self) -> date | None:
        """The day the last backup copy expires (what an erasure reports as retained until)."""
        if self.account is None or not self.account.backups:
            return None
        return max(b.expires_at for b in self.account.backups).date()


def seeded_hosting(index: int, seed: int) -> SeededHosting:
    """Row `index` of a database seeded with `seed` (and more than `index` customers)."""
    customer = customer_at(index, seed)
    return SeededHosting(customer, hosting_account(customer, seed))


def category_counts(account: HostingAccount | None) -> dict[str, int]:
    """Records per connector category for one customer's account (all zero without one)."""
    if account is None:
        return dict.fromkeys(CATEGORIES, 0)
    return {
        "account": 1,
        "mailboxes": len(account.mailboxes),
        "databases": len(account.databases),
        "ftp_users": len(account.ftp_users),
        "access_logs": len(account.access_logs),
        "files": len(account.files),
        "backups": len(account.backups),
    }


class HostingSeedExample(BaseModel):
    """A seeded subject: its accounts' identifiers and the counts the hosting connector should
    find when searched by all of them."""

    model_config = ConfigDict(frozen=True)

    label: str
    customer_numbers: list[str]
    usernames: list[str]
    names: list[str]
    emails: list[str]
    phones: list[str]
    domains: list[str] = Field(default_factory=list)
    mailboxes: list[str] = Field(default_factory=list)
    statuses: list[str]
    expected_counts: dict[str, int]
    backups_until: date | None = None


class HostingSeedExamples(BaseModel):
    """One example of each case; None when too few customers were seeded to contain it."""

    model_config = ConfigDict(frozen=True)

    plain_person: HostingSeedExample | None = None  # customer index 0: present in all systems
    company_contact: HostingSeedExample | None = None
    two_email_person: HostingSeedExample | None = None
    shared_email_pair: HostingSeedExample | None = None
    closed_account: HostingSeedExample | None = None  # terminated (with backups, if any has)


class HostingSeedSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    database: str  # the URL with any password hidden
    home_root: str | None
    seed: int
    customers: int
    accounts: int
    counts: dict[str, int]  # rows per table, and "files" written under home_root
    examples: HostingSeedExamples
    seconds: float


def async_database_url(database_url: str | URL) -> URL:
    """SQLite with aiosqlite; MariaDB/MySQL with aiomysql and utf8mb4 (Swedish names)."""
    url = with_async_driver(database_url, _DRIVERS)
    if url.get_backend_name() in ("mysql", "mariadb"):
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


async def seed_hosting(
    database_url: str,
    customers: int,
    seed: int,
    home_root: Path | None = None,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> HostingSeedSummary:
    """Drop and create the hosting schema (and the home tree when `home_root` is given), then
    write the accounts of `customers` generated customers.

    `progress(n)` is called with the number of customers done after every batch.
    """
    if customers < 0:
        raise ValueError("customers must not be negative")
    started = time.perf_counter()
    url = async_database_url(database_url)
    if home_root is not None:
        await asyncio.to_thread(prepare_home_root, home_root)
    counts = dict.fromkeys((t.name for t in _TABLES), 0)
    counts["files"] = 0
    examples = _ExampleCollector()
    async with fresh_database(url, metadata) as conn:
        loader = _Loader(conn, home_root, batch_size, counts)

        def add(customer: Customer) -> None:
            account = hosting_account(customer, seed)
            examples.add(customer, account)
            if account is not None:
                loader.add(account)

        await loader.load_customers(customers, seed, add, progress)
        await finish_load(conn, metadata, analyze=_TABLES)
    return HostingSeedSummary(
        database=url.render_as_string(hide_password=True),
        home_root=str(home_root) if home_root is not None else None,
        seed=seed,
        customers=customers,
        accounts=counts["accounts"],
        counts=counts,
        examples=examples.result(),
        seconds=elapsed(started),
    )


class _Loader(BatchLoader):
    """An account's rows, and (with a home root) its home directory, written in a worker thread
    after the batch's rows are committed."""

    def __init__(
        self,
        conn: AsyncConnection,
        home_root: Path | None,
        batch_size: int,
        counts: dict[str, int],
    ) -> None:
        super().__init__(conn, _TABLES, batch_size, counts)
        self._home_root = home_root
        self._homes: list[HostingAccount] = []
        self._account_id = 0

    def add(self, account: HostingAccount) -> None:
        self._account_id += 1
        account_id = self._account_id
        rows = self.rows
        rows["accounts"].append(
            {
                "id": account_id,
                "username": account.username,
                "customer_number": account.customer_number,
                "owner_name": account.owner_name,
                "email": account.email,
                "phone": account.phone,
                "plan": account.plan,
                "status": account.status,
                "created_at": account.created_at,
                "closed_at": account.closed_at,
                "restricted": False,
            }
        )
        rows["domains"].extend({"name": d, "account_id": account_id} for d in account.domains)
        rows["mailboxes"].extend(
            {
                "address": m.address,
                "account_id": account_id,
                "quota_mb": m.quota_mb,
                "created_at": m.created_at,
            }
            for m in account.mailboxes
        )
        rows["databases"].extend(
            {"name": d.name, "account_id": account_id, "size_bytes": d.size_bytes}
            for d in account.databases
        )
        rows["ftp_users"].extend(
            {"login": f.login, "account_id": account_id, "home_path": f.home_path}
            for f in account.ftp_users
        )
        rows["access_logs"].extend(
            {
                "account_id": account_id,
                "at": e.at,
                "ip_address": e.ip_address,
                "method": e.method,
                "path": e.path,
                "status": e.status,
                "user_agent": e.user_agent,
            }
            for e in account.access_logs
        )
        rows["backups"].extend(
            {
                "username": account.username,
                "customer_number": account.customer_number,
                "created_at": b.created_at,
                "expires_at": b.expires_at,
                "path": b.path,
                "size_bytes": b.size_bytes,
            }
            for b in account.backups
        )
        if self._home_root is not None:
            self._homes.append(account)

    async def flush(self) -> None:
        await super().flush()
        if self._home_root is not None and self._homes:
            homes, self._homes = self._homes, []
            self._counts["files"] += await asyncio.to_thread(write_homes, self._home_root, homes)


_Row = tuple[Customer, HostingAccount]


class _ExampleCollector(PairCollector[_Row, HostingSeedExample]):
    """Remembers the first customer (or pair) of each interesting case while seeding."""

    def add(self, customer: Customer, account: HostingAccount | None) -> None:
        if account is None:
            return
        if customer.special is not None:
            pair = self.pair(customer, (customer, account))
            if pair is not None:
                self._remember(pair_label(customer), pair)
        elif customer.kind == "person" and customer.status == "active" and account.in_service:
            self._remember("plain_person", [(customer, account)])
        elif customer.kind == "company" and customer.status == "active" and account.in_service:
            self._remember("company_contact", [(customer, account)])
        elif customer.kind == "person" and not account.in_service:
            # Prefer a terminated account whose backups are still kept (closed within the last
            # three months); those are rare, so take the first terminated one until then.
            earlier = self.found.get("closed_account")
            if earlier is None or (earlier.backups_until is None and account.backups):
                self._remember("closed_account", [(customer, account)], replace=True)

    def _remember(
        self,
        label: str,
        rows: Iterable[_Row],
        *,
        replace: bool = False,
    ) -> None:
        if label in self.found and not replace:
            return
        held = [a for _, a in rows]
        expiries = [b.expires_at.date() for a in held for b in a.backups]
        self.found[label] = HostingSeedExample(
            label=label,
            customer_numbers=[a.customer_number for a in held],
            usernames=[a.username for a in held],
            names=list(dict.fromkeys(a.owner_name for a in held)),
            emails=list(dict.fromkeys(a.email for a in held)),
            phones=list(dict.fromkeys(a.phone for a in held)),
            domains=[d for a in held for d in a.domains],
            mailboxes=[m.address for a in held for m in a.mailboxes],
            statuses=[a.status for a in held],
            expected_counts=add_counts(CATEGORIES, (category_counts(a) for a in held)),
            backups_until=max(expiries) if expiries else None,
        )

    def result(self) -> HostingSeedExamples:
        return HostingSeedExamples(**self.found)
