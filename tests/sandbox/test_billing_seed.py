"""The billing sandbox seeder: what it writes is what the generator says, every time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sandbox.billing import CATEGORIES, SeedSummary, seed_billing, seeded_customer
from sandbox.billing.records import customer_activity
from sandbox.people import generate_customers
from schemas.identifiers import is_valid_personal_identity_number

SEED = 5
COUNT = 150


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


async def _seed(path: Path, count: int = COUNT, batch_size: int = 5000) -> SeedSummary:
    return await seed_billing(f"sqlite:///{path}", count, SEED, batch_size=batch_size)


async def test_summary_matches_the_database(tmp_path: Path) -> None:
    path = tmp_path / "billing.db"
    summary = await _seed(path, batch_size=100)  # several batches
    assert summary.customers == COUNT
    assert summary.seed == SEED
    assert "aiosqlite" in summary.database
    for table, count in summary.counts.items():
        assert _count(path, table) == count, table
    activities = [customer_activity(c, SEED) for c in generate_customers(COUNT, SEED)]
    assert summary.counts["invoices"] == sum(len(a.invoices) for a in activities)
    assert summary.counts["payments"] == sum(a.payments for a in activities)
    assert summary.counts["login_sessions"] == sum(len(a.login_sessions) for a in activities)


async def test_seeding_again_gives_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "billing.db"
    first = await _seed(path)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT * FROM invoices ORDER BY id").fetchall()
    second = await _seed(path)  # drop and create
    with sqlite3.connect(path) as conn:
        after = conn.execute("SELECT * FROM invoices ORDER BY id").fetchall()
    assert first.model_dump(exclude={"seconds"}) == second.model_dump(exclude={"seconds"})
    assert before == after


async def test_examples(tmp_path: Path) -> None:
    summary = await _seed(tmp_path / "billing.db")
    examples = summary.examples
    assert examples.plain_person is not None
    assert examples.company_contact is not None
    assert examples.two_email_person is not None
    assert examples.shared_email_pair is not None
    assert examples.company_contact.organisation_numbers
    assert len(examples.two_email_person.emails) == 2
    assert len(examples.two_email_person.personal_identity_numbers) == 1
    assert len(examples.two_email_person.customer_numbers) == 2
    assert len(examples.shared_email_pair.emails) == 1
    assert len(examples.shared_email_pair.personal_identity_numbers) == 2
    assert examples.shared_email_pair.expected_counts["contact"] == 2
    for pnr in examples.plain_person.personal_identity_numbers:
        assert is_valid_personal_identity_number(pnr)
    assert set(examples.plain_person.expected_counts) == set(CATEGORIES)


async def test_seeded_customer_matches_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "billing.db"
    await _seed(path)
    with sqlite3.connect(path) as conn:
        for index in (0, 10, 11, 30, 40, 41, 77, COUNT - 1):
            seeded = seeded_customer(index, SEED)
            customer_id = index + 1
            row = conn.execute(
                "SELECT customer_number, email, personal_identity_number, status, name"
                " FROM customers WHERE id = ?",
                (customer_id,),
            ).fetchone()
            assert row[0] == seeded.customer.customer_number
            assert row[3] == seeded.customer.status
            if seeded.customer.status == "anonymised":
                assert row[1] is None
                assert row[2] is None
                assert row[4] is None
            else:
                assert row[1] == seeded.customer.email
                assert row[2] == seeded.customer.personal_identity_number
            invoices = conn.execute(
                "SELECT count(*), min(financial_year_end), max(issued_on) FROM invoices"
                " WHERE customer_id = ?",
                (customer_id,),
            ).fetchone()
            assert invoices[0] == seeded.counts["invoices"]


async def test_invoices_span_the_years_and_some_are_past_retention(tmp_path: Path) -> None:
    path = tmp_path / "billing.db"
    await _seed(path)
    with sqlite3.connect(path) as conn:
        years = {
            int(y)
            for (y,) in conn.execute(
                "SELECT DISTINCT substr(financial_year_end, 1, 4) FROM invoices"
            )
        }
        totals = conn.execute(
            "SELECT count(*) FROM invoices i WHERE total_ore !="
            " (SELECT sum(quantity * unit_price_ore) FROM invoice_lines l"
            " WHERE l.invoice_id = i.id) + vat_ore"
        ).fetchone()[0]
        ips = [ip for (ip,) in conn.execute("SELECT ip_address FROM login_sessions")]
    assert years == set(range(2017, 2027))
    assert totals == 0
    assert any(":" in ip for ip in ips)
    assert any("." in ip for ip in ips)


async def test_empty_seed(tmp_path: Path) -> None:
    path = tmp_path / "billing.db"
    summary = await _seed(path, count=0)
    assert summary.counts["customers"] == 0
    assert summary.examples.plain_person is None
    assert _count(path, "customers") == 0
