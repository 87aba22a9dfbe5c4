"""The hosting sandbox seeder: what it writes (rows and files) is what the generator says."""

from __future__ import annotations

import ipaddress
import itertools
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sandbox.hosting import (
    CATEGORIES,
    MARKER,
    HostingSeedSummary,
    add_months,
    hosting_account,
    seed_hosting,
    seeded_hosting,
)
from sandbox.people import REFERENCE_DATE, generate_customers
from sandbox.presence import presence

SEED = 5
COUNT = 150
_TABLES = ("accounts", "domains", "mailboxes", "databases", "ftp_users", "access_logs", "backups")


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed names


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root`: relative path -> (content, mtime); the marker's mtime is the
    time of seeding, so it is left out of comparisons by `_homes`."""
    found: dict[str, tuple[bytes, int]] = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            found[path.relative_to(root).as_posix()] = (
                path.read_bytes(),
                int(path.stat().st_mtime),
            )
    return found


def _homes(root: Path) -> dict[str, tuple[bytes, int]]:
    """The account files under `root`, without the seeder's marker."""
    return {path: value for path, value in _tree(root).items() if path != MARKER}


async def _seed(tmp_path: Path, count: int = COUNT, batch_size: int = 5000) -> HostingSeedSummary:
    return await seed_hosting(
        f"sqlite:///{tmp_path / 'hosting.db'}",
        count,
        SEED,
        home_root=tmp_path / "home",
        batch_size=batch_size,
    )


async def test_summary_matches_the_database_and_the_disk(tmp_path: Path) -> None:
    summary = await _seed(tmp_path, batch_size=100)  # several batches
    assert summary.customers == COUNT
    assert "aiosqlite" in summary.database
    for table in _TABLES:
        assert _count(tmp_path / "hosting.db", table) == summary.counts[table], table
    accounts = [hosting_account(c, SEED) for c in generate_customers(COUNT, SEED)]
    held = [a for a in accounts if a is not None]
    assert summary.accounts == len(held)
    assert summary.counts["access_logs"] == sum(len(a.access_logs) for a in held)
    assert summary.counts["backups"] == sum(len(a.backups) for a in held)
    files = _tree(tmp_path / "home")
    assert summary.counts["files"] == sum(len(a.files) for a in held) == len(files) - 1  # marker
    assert MARKER in files


async def test_presence_decides_who_has_hosting(tmp_path: Path) -> None:
    await _seed(tmp_path)
    with sqlite3.connect(tmp_path / "hosting.db") as conn:
        numbers = {n for (n,) in conn.execute("SELECT customer_number FROM accounts")}
    for customer in generate_customers(COUNT, SEED):
        expected = presence(customer, SEED).hosting and customer.status != "anonymised"
        assert (customer.customer_number in numbers) is expected, customer
    assert "K100001" in numbers  # customer index 0 is present in every system


async def test_seeding_again_gives_the_same_panel(tmp_path: Path) -> None:
    first = await _seed(tmp_path)
    with sqlite3.connect(tmp_path / "hosting.db") as conn:
        before = conn.execute("SELECT * FROM access_logs ORDER BY id").fetchall()
    tree_before = _homes(tmp_path / "home")
    (tmp_path / "home" / "stray-file").write_text("left over from an earlier run")
    second = await _seed(tmp_path)  # drop and create, the tree too
    with sqlite3.connect(tmp_path / "hosting.db") as conn:
        after = conn.execute("SELECT * FROM access_logs ORDER BY id").fetchall()
    assert first.model_dump(exclude={"seconds"}) == second.model_dump(exclude={"seconds"})
    assert before == after
    assert _homes(tmp_path / "home") == tree_before


async def test_refuses_to_wipe_a_folder_it_did_not_create(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "important.txt").write_text("somebody's file")
    with pytest.raises(ValueError, match="not empty"):
        await _seed(tmp_path)
    assert (home / "important.txt").read_text() == "somebody's file"


async def test_seeded_hosting_matches_the_rows(tmp_path: Path) -> None:
    await _seed(tmp_path)
    with sqlite3.connect(tmp_path / "hosting.db") as conn:
        for index in (0, 1, 10, 11, 30, 31, 40, 41, 77, COUNT - 1):
            seeded = seeded_hosting(index, SEED)
            number = seeded.customer.customer_number
            row = conn.execute(
                "SELECT id, username, email, status FROM accounts WHERE customer_number = ?",
                (number,),
            ).fetchone()
            if seeded.account is None:
                assert row is None
                assert all(n == 0 for n in seeded.counts.values())
                continue
            account_id, username, email, status = row
            assert (username, email, status) == (
                seeded.account.username,
                seeded.customer.email.lower(),
                seeded.account.status,
            )
            for category, table in (
                ("mailboxes", "mailboxes"),
                ("databases", "databases"),
                ("ftp_users", "ftp_users"),
                ("access_logs", "access_logs"),
            ):
                sql = f"SELECT count(*) FROM {table} WHERE account_id = ?"  # noqa: S608 - fixed names
                assert conn.execute(sql, (account_id,)).fetchone()[0] == seeded.counts[category]
            backups = conn.execute(
                "SELECT count(*) FROM backups WHERE username = ?", (username,)
            ).fetchone()[0]
            assert backups == seeded.counts["backups"]
            home = tmp_path / "home" / username
            assert len(_tree(home)) == seeded.counts["files"]
            assert set(seeded.counts) == set(CATEGORIES)


def test_backups_are_weekly_and_expire_after_three_months() -> None:
    today = datetime.combine(REFERENCE_DATE, datetime.min.time())
    active = seeded_hosting(0, SEED).account
    assert active is not None and active.in_service
    taken = [b.created_at for b in active.backups]
    assert len(taken) == 13
    assert all(b - a == timedelta(days=7) for a, b in itertools.pairwise(taken))
    assert taken[-1].date() == REFERENCE_DATE
    assert all(b.expires_at == add_months(b.created_at, 3) for b in active.backups)
    latest = seeded_hosting(0, SEED).backups_until
    assert latest == REFERENCE_DATE.replace(year=REFERENCE_DATE.year + 1, month=2)
    terminated = [
        a
        for c in generate_customers(COUNT, SEED)
        if (a := hosting_account(c, SEED)) is not None and not a.in_service
    ]
    assert terminated, "closed accounts exist too"
    assert {a.status for a in terminated} <= {"closed", "suspended"}
    for account in terminated:
        assert account.closed_at is not None
        for backup in account.backups:
            assert backup.created_at.date() <= account.closed_at.date()
            assert backup.expires_at > today  # expired copies were deleted by the backup system


def test_access_logs_hold_ipv4_and_ipv6_addresses() -> None:
    versions = {
        ipaddress.ip_address(entry.ip_address).version
        for c in generate_customers(COUNT, SEED)
        if (a := hosting_account(c, SEED)) is not None
        for entry in a.access_logs
    }
    assert versions == {4, 6}


async def test_examples(tmp_path: Path) -> None:
    # 200 customers of seed 7 hold a terminated account whose backups are still kept.
    with_backups = (await seed_hosting(f"sqlite:///{tmp_path / 'h7.db'}", 200, 7)).examples
    assert with_backups.closed_account is not None
    assert with_backups.closed_account.backups_until is not None

    examples = (await _seed(tmp_path)).examples
    assert examples.plain_person is not None
    assert examples.plain_person.customer_numbers == ["K100001"]  # present in all five systems
    assert examples.company_contact is not None
    assert examples.company_contact.mailboxes
    assert examples.two_email_person is not None
    assert len(examples.two_email_person.usernames) == 2
    assert len(examples.two_email_person.phones) == 1  # one person
    assert examples.shared_email_pair is not None
    assert len(examples.shared_email_pair.emails) == 1
    assert len(examples.shared_email_pair.names) == 2  # two people
    closed = examples.closed_account
    assert closed is not None
    assert closed.statuses[0] in ("closed", "suspended")
    assert closed.backups_until is None or closed.backups_until > REFERENCE_DATE
    assert set(examples.plain_person.expected_counts) == set(CATEGORIES)
