"""The hosting connector: the contract suite on SQLite and MariaDB, plus hosting's own rules.

Each contract class seeds its own database and home tree once (200 customers) and hands every
test a different seeded subject, so tests never see each other's erasures. MariaDB tests create
a uniquely named database on the local server (127.0.0.1:3306, root) and drop it afterwards.

"Today" is the sandbox's reference date: the seeded backups were taken weekly up to it and
expire three months later, so retention outcomes do not depend on the day the tests run.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiomysql
import pymysql
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite as sqlite_dialect

from connectors.base import (
    AmbiguousSubject,
    AuthenticationError,
    ConfigurationError,
    PermanentError,
    SystemUnavailable,
)
from connectors.hosting import (
    BACKUP_LEGAL_BASIS,
    CONTRACT_LEGAL_BASIS,
    HostingConnector,
)
from connectors.hosting._errors import classify
from connectors.hosting._homes import HomeTree
from connectors.hosting._matching import account_lookups
from connectors.testing import (
    ConnectorContract,
    KnownSubject,
    RecordingSink,
    dead_tcp_address,
    discover,
    erase_planned,
    leaked_values,
    personal_values,
)
from sandbox.hosting import SeededHosting, seed_hosting, seeded_hosting
from sandbox.people import REFERENCE_DATE, generate_customers
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.status import RetentionReason
from schemas.subject import Identifier, SubjectRef

SEED = 7
CUSTOMERS = 200
TODAY = REFERENCE_DATE

MARIADB_HOST, MARIADB_PORT, MARIADB_USER = "127.0.0.1", 3306, "root"


@dataclass(frozen=True)
class Site:
    """A seeded hosting panel: its database and its home directory tree."""

    url: str
    home_root: Path


def _ref(*pairs: tuple[IdentifierType, str], name: str | None = None) -> SubjectRef:
    return SubjectRef(
        identifiers=tuple(Identifier(type=kind, value=value) for kind, value in pairs), name=name
    )


def _by_email(seeded: SeededHosting, *, name: bool = True) -> SubjectRef:
    customer = seeded.customer
    return _ref((IdentifierType.EMAIL, customer.email), name=customer.name if name else None)


def _hosted(predicate: Callable[[SeededHosting], bool]) -> Iterator[SeededHosting]:
    for customer in generate_customers(CUSTOMERS, SEED):
        seeded = seeded_hosting(customer.index, SEED)
        if seeded.account is not None and predicate(seeded):
            yield seeded


def _plain_person(seeded: SeededHosting) -> bool:
    return seeded.customer.kind == "person" and seeded.customer.special is None


def _connector(site: Site, **options: Any) -> HostingConnector:
    options = {
        "statement_timeout": 10,
        "connect_timeout": 5,
        **options,
    }
    return HostingConnector(site.url, site.home_root, **options)


# --- the contract, on both databases ------------------------------------------------------


class _HostingContract(ConnectorContract):
    """Hosting's fixtures for the contract suite; subclasses provide `hosting_site`."""

    @pytest.fixture(scope="class")
    @classmethod
    def subject_pool(cls) -> Iterator[SeededHosting]:
        """Persons with an account (active or terminated), one per test that asks."""
        return _hosted(_plain_person)

    @pytest.fixture
    async def connector(self, hosting_site: Site) -> AsyncIterator[HostingConnector]:
        connector = _connector(hosting_site)
        yield connector
        await connector.aclose()

    @pytest.fixture
    def known_subject(
        self, hosting_site: Site, subject_pool: Iterator[SeededHosting]
    ) -> KnownSubject:
        seeded = next(subject_pool)
        return KnownSubject(_by_email(seeded), seeded.counts)

    @pytest.fixture
    def unknown_subject(self) -> SubjectRef:
        return _ref(
            (IdentifierType.EMAIL, f"nobody.{uuid.uuid4().hex[:10]}@example.invalid"),
            (IdentifierType.CUSTOMER_NUMBER, "K999999999"),
            (IdentifierType.PHONE, "+46700000000"),
            (IdentifierType.DOMAIN, "ingen-alls.example"),
            (IdentifierType.ACCOUNT_NAME, "nobody999999"),
            name="Ingen Alls",
        )

    @pytest.fixture
    def ambiguous_subject(self) -> SubjectRef:
        shared = next(_hosted(lambda s: s.customer.special == "shared_email"))
        return _by_email(shared)

    @pytest.fixture
    def erase_today(self) -> date:
        return TODAY


class TestHostingConnectorSqlite(_HostingContract):
    @pytest.fixture(scope="class")
    @classmethod
    async def hosting_site(cls, tmp_path_factory: pytest.TempPathFactory) -> Site:
        root = tmp_path_factory.mktemp("hosting-contract")
        site = Site(f"sqlite+aiosqlite:///{root / 'hosting.db'}", root / "home")
        await seed_hosting(site.url, CUSTOMERS, SEED, home_root=site.home_root)
        return site

    @pytest.fixture
    async def unreachable_connector(
        self, tmp_path: Path, hosting_site: Site
    ) -> AsyncIterator[HostingConnector]:
        # SQLite has no address: a database file that cannot be opened is its outage.
        site = Site(
            f"sqlite+aiosqlite:///{tmp_path}/no-such-dir/hosting.db", hosting_site.home_root
        )
        connector = _connector(site)
        yield connector
        await connector.aclose()


async def _mariadb_admin() -> aiomysql.Connection:
    try:
        return await aiomysql.connect(
            host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER, connect_timeout=5
        )
    except (OSError, pymysql.MySQLError) as exc:
        pytest.skip(
            f"MariaDB on {MARIADB_HOST}:{MARIADB_PORT} is not available ({type(exc).__name__})"
        )


@pytest.fixture(scope="session")
async def mariadb_database() -> AsyncIterator[Callable[[], Any]]:
    """Creates uniquely named databases on the local MariaDB and drops them at the end."""
    created: list[str] = []

    async def create() -> str:
        admin = await _mariadb_admin()
        name = f"dsr_test_hosting_{uuid.uuid4().hex[:12]}"
        try:
            async with admin.cursor() as cursor:
                await cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            admin.close()
        created.append(name)
        return f"mysql+aiomysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{name}"

    yield create
    if created:
        admin = await _mariadb_admin()
        try:
            async with admin.cursor() as cursor:
                for name in created:
                    await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            admin.close()


class TestHostingConnectorMariaDB(_HostingContract):
    @pytest.fixture(scope="class")
    @classmethod
    async def hosting_site(
        cls, mariadb_database: Callable[[], Any], tmp_path_factory: pytest.TempPathFactory
    ) -> Site:
        site = Site(await mariadb_database(), tmp_path_factory.mktemp("hosting-mariadb") / "home")
        await seed_hosting(site.url, CUSTOMERS, SEED, home_root=site.home_root)
        return site

    @pytest.fixture
    async def unreachable_connector(self, hosting_site: Site) -> AsyncIterator[HostingConnector]:
        host, port = dead_tcp_address()
        site = Site(
            f"mysql+aiomysql://{MARIADB_USER}@{host}:{port}/hosting", hosting_site.home_root
        )
        connector = _connector(site, connect_timeout=2)
        yield connector
        await connector.aclose()

    @pytest.fixture
    async def bad_credentials_connector(
        self, hosting_site: Site
    ) -> AsyncIterator[HostingConnector]:
        database = hosting_site.url.rsplit("/", 1)[1]
        site = Site(
            f"mysql+aiomysql://{MARIADB_USER}:wrong-password@{MARIADB_HOST}:{MARIADB_PORT}/"
            f"{database}",
            hosting_site.home_root,
        )
        connector = _connector(site)
        yield connector
        await connector.aclose()


async def test_mariadb_missing_database_is_a_configuration_error(tmp_path: Path) -> None:
    (await _mariadb_admin()).close()  # skips when MariaDB is not there
    missing = f"dsr_test_missing_{uuid.uuid4().hex[:8]}"
    site = Site(
        f"mysql+aiomysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{missing}", tmp_path
    )
    connector = _connector(site)
    try:
        with pytest.raises(ConfigurationError) as error:
            await connector.locate(_ref((IdentifierType.CUSTOMER_NUMBER, "K100001")))
        assert missing not in str(error.value)
    finally:
        await connector.aclose()


# --- hosting's own rules (one SQLite panel for the module) --------------------------------


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("hosting-rules")
    site = Site(f"sqlite+aiosqlite:///{root / 'hosting.db'}", root / "home")
    await seed_hosting(site.url, CUSTOMERS, SEED, home_root=site.home_root)
    return site


@pytest.fixture
async def hosting(site: Site) -> AsyncIterator[HostingConnector]:
    connector = _connector(site)
    yield connector
    await connector.aclose()


def _db_path(url: str) -> str:
    return url.split("///", 1)[1]


def _query(site: Site, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(_db_path(site.url)) as conn:
        return list(conn.execute(sql, params))


def _account_id(site: Site, username: str) -> int | None:
    rows = _query(site, "SELECT id FROM accounts WHERE username = ?", username)
    return int(rows[0][0]) if rows else None


def _disk_files(home: Path) -> dict[str, tuple[int, int]]:
    """Every file under `home`: relative path -> (size, mtime in whole seconds)."""
    found: dict[str, tuple[int, int]] = {}
    for directory, _, names in os.walk(home):
        for name in names:
            path = Path(directory) / name
            info = path.lstat()
            found[path.relative_to(home).as_posix()] = (info.st_size, int(info.st_mtime))
    return found


# Separate pools per rule so that no two tests touch the same account.
_in_service = _hosted(lambda s: _plain_person(s) and s.account is not None and s.account.in_service)
_terminated = _hosted(
    lambda s: (
        s.account is not None
        and not s.account.in_service
        and bool(s.account.files)
        and s.customer.special is None
    )
)


async def test_erase_keeps_an_active_service_and_deletes_its_access_log(
    hosting: HostingConnector, site: Site
) -> None:
    seeded = next(s for s in _in_service if s.account and s.account.access_logs)
    account = seeded.account
    assert account is not None
    account_id = _account_id(site, account.username)
    home = site.home_root / account.username
    files_before = _disk_files(home)

    subject = await discover(hosting, _by_email(seeded))
    result = await erase_planned(hosting, subject, TODAY)

    assert result.deleted["access_logs"] == len(account.access_logs)
    assert result.deleted["account"] == 0
    assert result.deleted["files"] == 0
    retained = {item.category: item for item in result.retained}
    assert retained["account"].count == 1
    assert retained["account"].reason is RetentionReason.CONTRACT
    assert retained["account"].legal_basis == CONTRACT_LEGAL_BASIS
    assert retained["account"].until is None
    assert retained["files"].count == len(account.files)
    assert retained["ftp_users"].count == len(account.ftp_users)
    assert account.username in result.evidence
    # The database and the disk: the log is gone, everything else is as it was.
    assert _query(site, "SELECT count(*) FROM access_logs WHERE account_id = ?", account_id) == [
        (0,)
    ]
    assert _query(site, "SELECT status FROM accounts WHERE id = ?", account_id) == [
        (account.status,)
    ]
    assert _disk_files(home) == files_before
    assert (await hosting.locate(subject)).counts["access_logs"] == 0


async def test_erase_of_a_terminated_account_deletes_rows_and_home_directory(
    hosting: HostingConnector, site: Site
) -> None:
    seeded = next(s for s in _terminated if s.account and s.account.backups)
    account = seeded.account
    assert account is not None
    account_id = _account_id(site, account.username)
    home = site.home_root / account.username
    assert home.is_dir()
    backups_before = _query(
        site, "SELECT * FROM backups WHERE username = ? ORDER BY id", account.username
    )
    assert len(backups_before) == len(account.backups)

    subject = await discover(hosting, _by_email(seeded, name=False))
    result = await erase_planned(hosting, subject, TODAY)

    assert result.deleted == {
        "account": 1,
        "mailboxes": len(account.mailboxes),
        "databases": len(account.databases),
        "ftp_users": len(account.ftp_users),
        "access_logs": len(account.access_logs),
        "files": len(account.files),
    }
    assert not home.exists(), "the home directory must be deleted on disk"
    for table in ("mailboxes", "databases", "ftp_users", "access_logs", "domains"):
        sql = f"SELECT count(*) FROM {table} WHERE account_id = ?"  # noqa: S608 - fixed names
        rows = _query(site, sql, account_id)
        assert rows == [(0,)], table
    assert _query(site, "SELECT count(*) FROM accounts WHERE id = ?", account_id) == [(0,)]
    # Backups cannot be edited: untouched, and reported as kept until the last one expires.
    backups_after = _query(
        site, "SELECT * FROM backups WHERE username = ? ORDER BY id", account.username
    )
    assert backups_after == backups_before
    kept = result.retained
    assert {item.category for item in kept} == {"backups"}
    assert sum(item.count for item in kept) == len(account.backups)
    assert all(item.reason is RetentionReason.BACKUP_EXPIRY for item in kept)
    assert all(item.legal_basis == BACKUP_LEGAL_BASIS for item in kept)
    latest = max(item.until for item in kept if item.until is not None)
    assert latest == seeded.backups_until
    assert latest == max(b.expires_at for b in account.backups).date()
    # What remains is exactly what was reported retained; a second erase changes nothing.
    after = await hosting.locate(subject)
    assert {k: v for k, v in after.counts.items() if v} == {"backups": len(account.backups)}
    again = await erase_planned(hosting, subject, TODAY)
    assert sum(again.deleted.values()) == 0
    assert again.retained == result.retained


async def test_backups_of_an_active_account_are_kept_until_the_last_expires(
    hosting: HostingConnector, site: Site
) -> None:
    seeded = next(_in_service)
    account = seeded.account
    assert account is not None
    before = _query(site, "SELECT * FROM backups WHERE username = ? ORDER BY id", account.username)
    result = await erase_planned(hosting, await discover(hosting, _by_email(seeded)), TODAY)
    # Per record: each weekly copy is kept until 3 months after it was taken.
    kept = [item for item in result.retained if item.category == "backups"]
    assert sum(item.count for item in kept) == 13  # weekly over the last three months
    assert len({item.until for item in kept}) == 13
    # The newest backup was taken on the reference date: it expires three months later.
    latest = max(item.until for item in kept if item.until is not None)
    assert latest == REFERENCE_DATE.replace(year=2027, month=2)
    assert latest == seeded.backups_until
    after = _query(site, "SELECT * FROM backups WHERE username = ? ORDER BY id", account.username)
    assert after == before


async def test_a_backups_three_months_run_from_its_stockholm_day(
    hosting: HostingConnector, site: Site
) -> None:
    """The panel stores naive UTC; a copy's three months (1182/71 Art. 3(2)(c)) run from the
    day it was taken in Stockholm, the calendar the policy's "today" and until-dates are in.
    Copies taken 2026-01-31 23:30 UTC and 2026-02-01 02:10 UTC were both taken on 1 February:
    one group, kept through 1 May. Counted from the UTC date, the first was kept only through
    30 April and erased before its three months had run."""
    number = "K199001"  # no account: backups outlive a deleted one, found by customer number
    with sqlite3.connect(_db_path(site.url)) as conn:
        conn.executemany(
            "INSERT INTO backups (username, customer_number, created_at, expires_at, path,"
            " size_bytes) VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("gone1", number, taken, expires, f"/backup/{taken:%Y-%m-%d}/gone1.tar.gz", 1)
                for taken, expires in (
                    (datetime(2026, 1, 31, 23, 30), datetime(2026, 4, 30, 23, 30)),
                    (datetime(2026, 2, 1, 2, 10), datetime(2026, 5, 1, 2, 10)),
                )
            ],
        )
    subject = _ref((IdentifierType.CUSTOMER_NUMBER, number))

    result = await erase_planned(hosting, subject, date(2026, 3, 1))

    assert [(i.category, i.count, i.until) for i in result.retained] == [
        ("backups", 2, date(2026, 5, 1))
    ]


async def test_same_person_with_two_accounts_is_one_subject(
    hosting: HostingConnector, site: Site
) -> None:
    first, second = seeded_hosting(10, SEED), seeded_hosting(11, SEED)  # slots 10 and 11
    assert first.customer.special == second.customer.special == "two_emails"
    assert first.account is not None and second.account is not None
    both = _ref(
        (IdentifierType.EMAIL, first.customer.email),
        (IdentifierType.EMAIL, second.customer.email),
        name=first.customer.name,
    )
    located = await hosting.locate(both)
    assert not located.ambiguous
    assert located.counts == {k: first.counts[k] + second.counts[k] for k in located.counts}
    learned = {(i.type, i.value) for i in located.learned}
    assert (IdentifierType.ACCOUNT_NAME, first.account.username) in learned
    assert (IdentifierType.ACCOUNT_NAME, second.account.username) in learned
    # The same phone number leads to both accounts, and they still are one person.
    by_phone = await hosting.locate(_ref((IdentifierType.PHONE, first.customer.phone)))
    assert by_phone.counts["account"] == 2
    assert not by_phone.ambiguous


async def test_a_shared_address_is_ambiguous_and_refused(hosting: HostingConnector) -> None:
    one = next(_hosted(lambda s: s.customer.special == "shared_email"))
    assert one.account is not None
    shared = _by_email(one)
    result = await hosting.locate(shared)
    assert result.ambiguous
    assert result.ambiguity_reason == "email matches accounts of 2 different owners"
    assert result.learned == []
    with pytest.raises(AmbiguousSubject):
        await erase_planned(hosting, shared, TODAY)
    with pytest.raises(AmbiguousSubject):
        await hosting.rectify(shared, [FieldChange(field="phone", value="0701234567")])
    with pytest.raises(AmbiguousSubject):
        await hosting.restrict(shared)
    # Each person's own account name leads to one owner.
    own = _ref((IdentifierType.ACCOUNT_NAME, one.account.username), name=one.customer.name)
    located = await hosting.locate(own)
    assert not located.ambiguous
    assert located.counts["account"] == 1


async def test_a_name_that_does_not_match_makes_the_subject_ambiguous(
    hosting: HostingConnector,
) -> None:
    seeded = next(_in_service)
    wrong = _ref((IdentifierType.EMAIL, seeded.customer.email), name="Helt Annan Person")
    result = await hosting.locate(wrong)
    assert result.ambiguous
    assert result.ambiguity_reason == (
        "email matches an account whose owner name differs from the name given"
    )
    customer = seeded.customer
    for name in (customer.name.upper(), f"{customer.last_name} {customer.first_name}"):
        assert not (
            await hosting.locate(_ref((IdentifierType.EMAIL, customer.email), name=name))
        ).ambiguous


async def test_every_identifier_finds_the_same_account(hosting: HostingConnector) -> None:
    seeded = next(s for s in _in_service if s.account and s.account.domains and s.account.mailboxes)
    account = seeded.account
    assert account is not None
    owner = (IdentifierType.CUSTOMER_NUMBER, account.customer_number.lower())
    for kind, value in (
        (IdentifierType.EMAIL, seeded.customer.email.upper()),
        owner,
        (IdentifierType.ACCOUNT_NAME, account.username),
        (IdentifierType.PHONE, "0" + seeded.customer.phone[3:]),
    ):
        result = await hosting.locate(_ref((kind, value)))
        assert result.counts == seeded.counts, kind
        assert not result.ambiguous, kind
    # What the account hosts finds it too, but says nothing about its owner: alone it is
    # ambiguous (a partner's mailbox, a customer's domain at its web agency), beside an owner
    # detail it is the same subject.
    for hosted in (
        (IdentifierType.EMAIL, account.mailboxes[0].address),
        (IdentifierType.DOMAIN, f"www.{account.domains[0].upper()}."),
    ):
        alone = await hosting.locate(_ref(hosted))
        assert alone.ambiguous and "mailbox address or domain" in (alone.ambiguity_reason or "")
        beside = await hosting.locate(_ref(hosted, owner))
        assert beside.counts == seeded.counts and not beside.ambiguous, hosted[0]
    result = await hosting.locate(_by_email(seeded))
    learned = {(i.type, i.value) for i in result.learned}
    # Mailbox addresses find the account when the subject gives one, but are never learned:
    # a mailbox on the subject's domain may be another person's address.
    assert learned == {
        (IdentifierType.ACCOUNT_NAME, account.username),
        (IdentifierType.CUSTOMER_NUMBER, account.customer_number),
    }


async def test_export_structures_every_category_and_lists_files_without_contents(
    hosting: HostingConnector, site: Site
) -> None:
    seeded = next(
        s for s in _in_service if s.account and s.account.mailboxes and s.account.databases
    )
    account = seeded.account
    assert account is not None
    sink = RecordingSink()
    result = await hosting.export(_by_email(seeded), sink)
    assert result.counts == seeded.counts
    (record,) = sink.records["account"]
    assert record["username"] == account.username
    assert record["email"] == seeded.customer.email
    assert record["domains"] == sorted(account.domains)
    assert {m["address"] for m in sink.records["mailboxes"]} == {
        m.address for m in account.mailboxes
    }
    assert [log["ip_address"] for log in sink.records["access_logs"]] == [
        e.ip_address for e in account.access_logs
    ]
    assert [b["expires_at"] for b in sink.records["backups"]] == [
        b.expires_at.replace(tzinfo=UTC).isoformat() for b in account.backups
    ]
    listed = {str(f["path"]): (f["size_bytes"], f["modified_at"]) for f in sink.records["files"]}
    on_disk = _disk_files(site.home_root / account.username)
    assert listed == {
        path: (size, datetime.fromtimestamp(mtime, UTC).isoformat())
        for path, (size, mtime) in on_disk.items()
    }
    for file in sink.records["files"]:
        assert set(file) == {"account", "path", "size_bytes", "modified_at"}  # never contents


async def test_export_sink_errors_are_not_disguised(hosting: HostingConnector) -> None:
    class FullDisk:
        async def write(self, category: str, record: dict[str, object]) -> None:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await hosting.export(_by_email(next(_in_service)), FullDisk())


async def test_rectify_changes_owner_details_only(hosting: HostingConnector, site: Site) -> None:
    seeded = next(_in_service)
    account = seeded.account
    assert account is not None
    result = await hosting.rectify(
        _by_email(seeded),
        [
            FieldChange(field="name", value="  Ny   Ägare "),
            FieldChange(field="email", value="Ny.Agare@Example.se"),
            FieldChange(field="phone", value="070-123 45 67"),
            FieldChange(field="username", value="someoneelse"),
            FieldChange(field="email", value="not-an-address"),
        ],
    )
    assert result.changed == {"account": 1}
    assert result.rejected_fields == ["username"]
    # Two values for one field: which is right is the subject's to say, so neither is applied.
    assert result.refused_fields == ["email"]
    row = _query(
        site,
        "SELECT owner_name, email, phone, username FROM accounts WHERE username = ?",
        account.username,
    )
    assert row == [("Ny Ägare", seeded.customer.email.lower(), "+46701234567", account.username)]


async def test_a_mailbox_on_another_persons_account_changes_nothing_of_it(
    hosting: HostingConnector, site: Site
) -> None:
    """Anna has no account of her own; her address is a mailbox on her partner Per's. Her
    request (e-mail only, as the portal may send it) must not rectify, restrict, erase or
    export Per's account: hosting refuses, the workflow makes it a person's task."""
    per = next(_in_service)
    assert per.account is not None
    per_id = _account_id(site, per.account.username)
    anna = "anna.partner@example.se"
    with sqlite3.connect(_db_path(site.url)) as conn:
        conn.execute(
            "INSERT INTO mailboxes (address, account_id, quota_mb, created_at) VALUES (?,?,?,?)",
            (anna, per_id, 1024, datetime(2024, 1, 1)),
        )
    row = "SELECT owner_name, email, phone, restricted FROM accounts WHERE id = ?"
    before = _query(site, row, per_id)
    subject = _ref((IdentifierType.EMAIL, anna))
    located = await hosting.locate(subject)
    assert located.ambiguous and located.learned == []
    with pytest.raises(AmbiguousSubject):
        await hosting.rectify(subject, [FieldChange(field="name", value="Anna Nyberg")])
    with pytest.raises(AmbiguousSubject):
        await hosting.restrict(subject)
    with pytest.raises(AmbiguousSubject):
        await hosting.export(subject, RecordingSink())
    assert _query(site, row, per_id) == before


async def test_restrict_sets_and_clears_the_flag(hosting: HostingConnector, site: Site) -> None:
    seeded = next(_in_service)
    account = seeded.account
    assert account is not None

    def flag() -> int:
        rows = _query(site, "SELECT restricted FROM accounts WHERE username = ?", account.username)
        return int(rows[0][0])

    assert (await hosting.restrict(_by_email(seeded))).restricted == {"account": 1}
    assert flag() == 1
    assert (await hosting.lift_restriction(_by_email(seeded))).restricted == {"account": 1}
    assert flag() == 0
    nobody = _ref((IdentifierType.EMAIL, "nobody@example.invalid"))
    assert (await hosting.restrict(nobody)).restricted == {}


async def test_no_personal_data_in_logs(
    hosting: HostingConnector, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = next(_in_service)
    with caplog.at_level(logging.DEBUG):
        full = await discover(hosting, _by_email(seeded))
        await hosting.export(full, RecordingSink())
        await hosting.rectify(full, [FieldChange(field="phone", value="0709876543")])
        await erase_planned(hosting, full, TODAY)
    assert caplog.records, "the connector logs what it did"
    leaks = len(leaked_values(caplog.text, personal_values(full)))
    assert leaks == 0, "log lines hold personal data"


async def test_symbolic_links_are_removed_not_followed(
    hosting: HostingConnector, site: Site, tmp_path: Path
) -> None:
    seeded = next(_terminated)
    account = seeded.account
    assert account is not None
    outside = tmp_path / "outside.txt"
    outside.write_text("not the customer's")
    home = site.home_root / account.username
    (home / "public_html" / "link.txt").symlink_to(outside)
    result = await erase_planned(
        hosting, await discover(hosting, _by_email(seeded, name=False)), TODAY
    )
    assert result.deleted["files"] == len(account.files) + 1
    assert not home.exists()
    assert outside.read_text() == "not the customer's"


async def test_a_missing_home_tree_is_an_outage(site: Site, tmp_path: Path) -> None:
    connector = _connector(Site(site.url, tmp_path / "not-mounted"))
    try:
        with pytest.raises(SystemUnavailable) as error:
            await connector.locate(_by_email(next(_in_service)))
        assert error.value.retryable
        assert "not-mounted" not in str(error.value)
    finally:
        await connector.aclose()


def test_a_username_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    tree = HomeTree(tmp_path)
    for bad in ("../etc", "a/b", ".hidden", ""):
        with pytest.raises(PermanentError):
            tree._home(bad)


async def test_a_locked_database_is_reported_as_a_retryable_outage(
    site: Site, tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    with sqlite3.connect(_db_path(site.url)) as source, sqlite3.connect(path) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # in WAL mode readers would not be blocked
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    connector = _connector(
        Site(f"sqlite+aiosqlite:///{path}", site.home_root),
        statement_timeout=0.05,
    )
    try:
        with pytest.raises(SystemUnavailable):
            await connector.locate(_by_email(next(_in_service)))
        locker.execute("ROLLBACK")
        assert (await connector.locate(_by_email(next(_in_service)))).found
    finally:
        locker.close()
        await connector.aclose()


def test_locate_lookups_are_index_searches(site: Site) -> None:
    examples = {
        IdentifierType.EMAIL: "anna@example.se",
        IdentifierType.CUSTOMER_NUMBER: "K100001",
        IdentifierType.DOMAIN: "example.se",
        IdentifierType.ACCOUNT_NAME: "annalind1",
        IdentifierType.PHONE: "+46701234567",
    }
    with sqlite3.connect(_db_path(site.url)) as conn:
        for kind, value in examples.items():
            for lookup in account_lookups(kind, value):
                compiled = lookup.compile(dialect=sqlite_dialect.dialect())
                params = [compiled.params[name] for name in compiled.positiontup or []]
                plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled}", params)]
                assert all("USING" in step for step in plan), (kind, plan)
                assert not any(step.startswith("SCAN") for step in plan), (kind, plan)


# --- retries, errors and settings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected", "retryable"),
    [
        (1045, AuthenticationError, False),  # access denied
        (1049, ConfigurationError, False),  # unknown database
        (1146, ConfigurationError, False),  # no such table
        (1142, ConfigurationError, False),  # command denied
        (1205, SystemUnavailable, True),  # lock wait timeout
        (1213, SystemUnavailable, True),  # deadlock
        (1969, SystemUnavailable, True),  # max_statement_time exceeded
        (2003, SystemUnavailable, True),  # cannot connect
        (2013, SystemUnavailable, True),  # lost connection
        (1062, PermanentError, False),  # duplicate entry
    ],
)
def test_mariadb_errors_map_to_typed_errors(code: int, expected: type, retryable: bool) -> None:
    secret = "anna.lind@example.se"
    orig = pymysql.err.OperationalError(code, f"Duplicate entry '{secret}' for key 'email'")
    wrapped = sa_exc.OperationalError("UPDATE accounts SET email = %s", (secret,), orig)
    error = classify(wrapped, "rectify")
    assert error is not None
    assert type(error) is expected
    assert error.retryable is retryable
    assert secret not in str(error)
    assert str(code) in str(error)


async def test_missing_schema_is_a_configuration_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    connector = HostingConnector(f"sqlite+aiosqlite:///{empty}", tmp_path)
    try:
        with pytest.raises(ConfigurationError) as error:
            await connector.locate(_ref((IdentifierType.EMAIL, "anna@example.se")))
        assert "anna@example.se" not in str(error.value)
        assert error.value.__cause__ is None
        assert error.value.__suppress_context__
    finally:
        await connector.aclose()


@pytest.mark.parametrize(
    "url", ["not a url", "postgresql://user:pw@db/hosting", "mssql+pyodbc://user:pw@db/hosting"]
)
def test_bad_urls_are_configuration_errors(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as error:
        HostingConnector(url, tmp_path)
    assert "pw" not in str(error.value)


def test_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DSR_HOSTING_DATABASE_URL", raising=False)
    monkeypatch.delenv("DSR_HOSTING_HOME_ROOT", raising=False)
    with pytest.raises(ConfigurationError, match="DSR_HOSTING_DATABASE_URL"):
        HostingConnector.from_settings()
    monkeypatch.setenv("DSR_HOSTING_DATABASE_URL", "mysql://root:secret@127.0.0.1/hosting")
    with pytest.raises(ConfigurationError, match="DSR_HOSTING_HOME_ROOT"):
        HostingConnector.from_settings()
    monkeypatch.setenv("DSR_HOSTING_HOME_ROOT", str(tmp_path))
    monkeypatch.setenv("DSR_HOSTING_POOL_SIZE", "0")
    with pytest.raises(ConfigurationError) as error:
        HostingConnector.from_settings()
    assert "pool_size" in str(error.value)
    assert "secret" not in str(error.value)
    monkeypatch.setenv("DSR_HOSTING_POOL_SIZE", "2")
    connector = HostingConnector.from_settings()
    assert "aiomysql" in str(connector._engine.url)  # a sync URL gets the asyncio driver
    assert "secret" not in repr(connector)
