"""The support sandbox seeder: what it writes is what the generator says, every time, for the
customers `sandbox.presence` gives support, with lookups that are index searches."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox.people import BLOCK_SIZE, generate_customers
from sandbox.presence import presence
from sandbox.support import (
    CATEGORIES,
    HEAVY_INDEX,
    LEGAL_HOLD_TAG,
    SupportSeedSummary,
    add_heavy_user,
    phone_variants,
    pnr_variants,
    seed_support,
    seeded_support,
    support_activity,
)
from sandbox.support._pagination import Page, paged
from sandbox.support._users import _deleted, _search
from sandbox.support.schema import users
from schemas.identifiers import is_valid_personal_identity_number

SEED = 5
COUNT = 150


def _query(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql, params))


def _n(path: Path, sql: str, *params: object) -> int:
    return int(str(_query(path, sql, *params)[0][0]))


def _count(path: Path, table: str) -> int:
    return _n(path, f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names


async def _seed(path: Path, batch_size: int = 5000, heavy: int = 0) -> SupportSeedSummary:
    return await seed_support(
        f"sqlite:///{path}", COUNT, SEED, batch_size=batch_size, heavy_tickets=heavy
    )


@pytest.fixture(scope="module")
async def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SupportSeedSummary]:
    path = tmp_path_factory.mktemp("support-seed") / "support.db"
    summary = await _seed(path, batch_size=100)  # several batches
    return path, summary


def test_summary_matches_the_database(seeded_db: tuple[Path, SupportSeedSummary]) -> None:
    path, summary = seeded_db
    assert summary.customers == COUNT
    assert "aiosqlite" in summary.database
    for table, count in summary.counts.items():
        assert _count(path, table) == count, table
    activities = [support_activity(c, SEED) for c in generate_customers(COUNT, SEED)]
    totals = dict.fromkeys(CATEGORIES, 0)
    for activity in activities:
        for category, count in activity.counts.items():
            totals[category] += count
    assert summary.counts["users"] == totals["user"] + 5  # and the five support agents
    assert summary.counts["tickets"] == totals["tickets"]
    assert summary.counts["comments"] == totals["comments"]
    assert summary.counts["attachments"] == totals["attachments"]
    assert summary.counts["calls"] == totals["call_recordings"]
    assert summary.counts["satisfaction_ratings"] == totals["satisfaction_ratings"]


def test_presence_decides_who_has_a_user(seeded_db: tuple[Path, SupportSeedSummary]) -> None:
    path, _ = seeded_db
    stored = {
        str(n) for (n,) in _query(path, "SELECT external_id FROM users WHERE role = 'end-user'")
    }
    for customer in generate_customers(COUNT, SEED):
        expected = presence(customer, SEED).support and customer.status != "anonymised"
        assert (customer.customer_number in stored) is expected, customer
        if customer.index % BLOCK_SIZE == 0:
            assert expected, "slot 0 (the example person) is in every system"


def test_seeded_support_matches_the_rows(seeded_db: tuple[Path, SupportSeedSummary]) -> None:
    path, _ = seeded_db
    for index in (0, 1, 10, 11, 30, 31, 77, COUNT - 1):
        seeded = seeded_support(index, SEED)
        rows = _query(
            path,
            "SELECT id, name, email, phone FROM users WHERE external_id = ?",
            seeded.customer.customer_number,
        )
        if seeded.activity.user is None:
            assert rows == []
            continue
        [(user_id, name, email, phone)] = rows
        user = seeded.activity.user
        assert (name, email, phone) == (user.name, user.email, user.phone)
        counts = {
            "user": 1,
            "tickets": _n(path, "SELECT count(*) FROM tickets WHERE requester_id = ?", user_id),
            "comments": _n(
                path,
                "SELECT count(*) FROM comments JOIN tickets ON tickets.id = comments.ticket_id"
                " WHERE tickets.requester_id = ?",
                user_id,
            ),
            "attachments": _n(
                path,
                "SELECT count(*) FROM attachments JOIN comments ON comments.id = "
                "attachments.comment_id JOIN tickets ON tickets.id = comments.ticket_id"
                " WHERE tickets.requester_id = ?",
                user_id,
            ),
            "call_recordings": _n(path, "SELECT count(*) FROM calls WHERE user_id = ?", user_id),
            "satisfaction_ratings": _n(
                path, "SELECT count(*) FROM satisfaction_ratings WHERE user_id = ?", user_id
            ),
        }
        assert counts == seeded.counts, index


def test_the_shared_address_belongs_to_one_user(seeded_db: tuple[Path, SupportSeedSummary]) -> None:
    path, _ = seeded_db
    first, second = seeded_support(30, SEED), seeded_support(31, SEED)
    assert first.customer.email == second.customer.email
    assert first.activity.user is not None and second.activity.user is not None
    assert first.activity.user.email == first.customer.email
    assert second.activity.user.email is None  # contacted support by phone
    assert _query(path, "SELECT count(*) FROM users WHERE email = ?", first.customer.email) == [
        (1,)
    ]


async def test_seeding_again_gives_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "support.db"
    first = await _seed(path)
    before = _query(path, "SELECT * FROM comments ORDER BY id")
    second = await _seed(path)  # drop and create
    after = _query(path, "SELECT * FROM comments ORDER BY id")
    assert first.model_dump(exclude={"seconds"}) == second.model_dump(exclude={"seconds"})
    assert before == after


def test_examples(seeded_db: tuple[Path, SupportSeedSummary]) -> None:
    _, summary = seeded_db
    examples = summary.examples
    assert examples.plain_person is not None
    assert examples.plain_person.customer_numbers == ["K100001"]  # row 0: in all five systems
    assert set(examples.plain_person.expected_counts) == set(CATEGORIES)
    assert examples.company_contact is not None
    assert examples.two_email_person is not None
    assert len(examples.two_email_person.emails) == 2
    assert len(examples.two_email_person.names) == 1
    assert examples.shared_email_pair is not None
    assert len(examples.shared_email_pair.emails) == 1
    assert len(examples.shared_email_pair.names) == 2
    hold = examples.legal_hold_person
    assert hold is not None and hold.legal_hold_tickets > 0
    assert hold.expected_counts["tickets"] > hold.legal_hold_tickets
    for pnr in hold.personal_identity_numbers:
        assert is_valid_personal_identity_number(pnr)
    assert examples.heavy_user is None


def test_conversations_quote_personal_data(seeded_db: tuple[Path, SupportSeedSummary]) -> None:
    """Customers write their data into tickets, in the formats people use: that is what an
    erasure has to find. Tickets on legal hold always carry some."""
    path, _ = seeded_db
    forms_seen = set()
    for customer in generate_customers(COUNT, SEED):
        activity = support_activity(customer, SEED)
        if activity.user is None or customer.personal_identity_number is None:
            continue
        for ticket in activity.tickets:
            body = "\n".join(c.body for c in ticket.comments)
            for n, form in enumerate(phone_variants(customer.phone)):
                if form in body:
                    forms_seen.add(f"phone{n}")
            for n, form in enumerate(pnr_variants(customer.personal_identity_number)):
                if form in body:
                    forms_seen.add(f"pnr{n}")
            if ticket.legal_hold:
                assert customer.name in body and customer.email.lower() in body
    assert {"phone0", "phone1", "phone2", "pnr0", "pnr1"} <= forms_seen
    held = _n(path, "SELECT count(*) FROM tickets WHERE tags LIKE ?", f"%{LEGAL_HOLD_TAG}%")
    assert held > 0


async def test_heavy_user(tmp_path: Path) -> None:
    path = tmp_path / "support.db"
    summary = await _seed(path, heavy=300)
    heavy = summary.examples.heavy_user
    assert heavy is not None
    assert heavy.customer_numbers == [f"K{100001 + HEAVY_INDEX}"]
    assert heavy.expected_counts["tickets"] == 300
    [(user_id,)] = _query(path, "SELECT id FROM users WHERE email = ?", heavy.emails[0])
    assert _query(path, "SELECT count(*) FROM tickets WHERE requester_id = ?", user_id) == [(300,)]
    with pytest.raises(ValueError, match="already"):
        await add_heavy_user(f"sqlite:///{path}", 10, SEED)

    plain = tmp_path / "plain.db"
    before = await _seed(plain)
    added = await add_heavy_user(f"sqlite:///{plain}", 120, SEED)
    assert added.customer_numbers == heavy.customer_numbers
    assert added.expected_counts["tickets"] == 120
    assert _count(plain, "tickets") == before.counts["tickets"] + 120


def test_api_lookups_are_index_searches(seeded_db: tuple[Path, SupportSeedSummary]) -> None:
    """What the API runs for a DSR, at a million customers: index searches, never scans."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    path, _ = seeded_db
    statements = [
        _search("email", "anna@example.se").compile(dialect=sqlite_dialect.dialect()),
        _search("external_id", "K100001").compile(dialect=sqlite_dialect.dialect()),
        _search("phone", "+46701234567").compile(dialect=sqlite_dialect.dialect()),
        # The deleted users not yet purged, a page at a time: the first page and a later one.
        *(
            paged(_deleted(), users.c.id, Page(100, after)).compile(
                dialect=sqlite_dialect.dialect()
            )
            for after in (None, 12)
        ),
    ]
    plans = []
    with sqlite3.connect(path) as conn:
        for compiled in statements:
            params = [compiled.params[name] for name in compiled.positiontup or []]
            plans.append(
                " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {compiled}", params))
            )
        for sql, params in (
            ("SELECT * FROM tickets WHERE requester_id = ? AND id > ? ORDER BY id LIMIT ?", (6, 3)),
            (
                "SELECT * FROM tickets WHERE external_id = ? AND id > ? ORDER BY id LIMIT ?",
                ("K", 3),
            ),
            ("SELECT * FROM comments WHERE ticket_id = ? AND id > ? ORDER BY id LIMIT ?", (1, 1)),
            ("SELECT * FROM calls WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?", (6, 1)),
            (
                "SELECT * FROM satisfaction_ratings WHERE user_id = ? AND id > ?"
                " ORDER BY id LIMIT ?",
                (6, 1),
            ),
        ):
            # With parameters, as the API runs them: the planner cannot peek at the values.
            found = conn.execute(f"EXPLAIN QUERY PLAN {sql}", (*params, 101))
            plans.append(" ".join(r[3] for r in found))
        found = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM attachments WHERE comment_id IN (?)", (1,)
        )
        plans.append(" ".join(r[3] for r in found))
    for plan in plans:
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # the index gives the order: no sort
