"""The newsletter sandbox seeder: what it writes is what the generator says, every time."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sandbox.newsletter import (
    CATEGORIES,
    DEFAULT_BLOCKLIST_SALT,
    NewsletterSeedSummary,
    blocklist_hash,
    catalogue,
    newsletter_activity,
    seed_newsletter,
    seeded_newsletter,
)
from sandbox.newsletter.seed import sqlite_database_url
from sandbox.people import generate_customers
from sandbox.presence import presence

SEED = 5
COUNT = 150


def _query(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql, params))


async def _seed(path: Path, count: int = COUNT, batch_size: int = 5000) -> NewsletterSeedSummary:
    return await seed_newsletter(f"sqlite:///{path}", count, SEED, batch_size=batch_size)


async def test_summary_matches_the_database(tmp_path: Path) -> None:
    path = tmp_path / "newsletter.db"
    summary = await _seed(path, batch_size=50)  # several batches
    assert summary.customers == COUNT
    assert "aiosqlite" in summary.database
    for table, count in summary.counts.items():
        assert _query(path, f"SELECT count(*) FROM {table}")[0][0] == count, table  # noqa: S608 - table names from the summary
    activities = [newsletter_activity(c, SEED) for c in generate_customers(COUNT, SEED)]
    records = [r for a in activities for r in (a.subscriber, a.prospect) if r is not None]
    assert summary.counts["subscribers"] == len(records)
    assert summary.counts["subscriber_lists"] == sum(len(r.subscriptions) for r in records)
    assert summary.counts["campaign_views"] == sum(len(r.views) for r in records)
    assert summary.counts["link_clicks"] == sum(len(r.clicks) for r in records)
    assert summary.counts["blocklist_hashes"] == sum(a.blocklisted for a in activities)
    assert summary.counts["campaigns"] == len(catalogue().campaigns)


async def test_seeding_again_gives_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "newsletter.db"
    first = await _seed(path)
    before = _query(path, "SELECT * FROM subscribers ORDER BY id")
    second = await _seed(path, batch_size=7)  # drop and create, other batches
    after = _query(path, "SELECT * FROM subscribers ORDER BY id")
    assert first.model_dump(exclude={"seconds"}) == second.model_dump(exclude={"seconds"})
    assert before == after


async def test_seeded_newsletter_matches_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "newsletter.db"
    await _seed(path)
    checked = 0
    for customer in generate_customers(COUNT, SEED):
        seeded = seeded_newsletter(customer.index, SEED)
        rows = _query(
            path,
            "SELECT id, name, attribs, status FROM subscribers WHERE email = ?",
            customer.email,
        )
        digest = blocklist_hash(customer.email, DEFAULT_BLOCKLIST_SALT)
        blocked = _query(path, "SELECT count(*) FROM blocklist_hashes WHERE hash = ?", digest)
        assert blocked[0][0] == seeded.counts["blocklist"]
        record = seeded.activity.subscriber
        if seeded.activity.shared_with is not None:
            # the household's address is subscribed under the partner row
            assert json.loads(str(rows[0][2]))["customer_number"] != customer.customer_number
            continue
        if record is None:
            assert rows == []
            continue
        [(subscriber_id, name, attribs, status)] = rows
        assert name == record.name
        assert status == record.status
        assert json.loads(str(attribs))["customer_number"] == customer.customer_number
        counts = {
            "subscriptions": "SELECT count(*) FROM subscriber_lists WHERE subscriber_id = ?",
            "campaign_views": "SELECT count(*) FROM campaign_views WHERE subscriber_id = ?",
            "link_clicks": "SELECT count(*) FROM link_clicks WHERE subscriber_id = ?",
        }
        for category, sql in counts.items():
            assert _query(path, sql, subscriber_id)[0][0] == seeded.counts[category], category
        checked += 1
    assert checked > 20


def test_who_subscribes_follows_presence() -> None:
    for customer in generate_customers(500, SEED):
        activity = newsletter_activity(customer, SEED)
        present = presence(customer, SEED).newsletter
        known = activity.subscriber is not None or activity.blocklisted
        known = known or activity.shared_with is not None
        assert known == present, customer
        assert not (activity.blocklisted and customer.status != "anonymised")
    assert newsletter_activity(next(generate_customers(1, SEED)), SEED).subscriber is not None


def test_tracking_belongs_to_the_lists_subscribed() -> None:
    content = catalogue()
    list_of = {c.id: c.list_id for c in content.campaigns}
    links_of = {c.id: set(c.link_ids) for c in content.campaigns}
    for customer in generate_customers(300, SEED):
        activity = newsletter_activity(customer, SEED)
        for record in (activity.subscriber, activity.prospect):
            if record is None:
                continue
            received = {s.list_id for s in record.subscriptions if s.status != "unconfirmed"}
            assert {list_of[v.campaign_id] for v in record.views} <= received
            viewed = {v.campaign_id for v in record.views}
            for click in record.clicks:
                assert click.campaign_id in viewed
                assert click.link_id in links_of[click.campaign_id]
            if record.status == "blocklisted":
                assert {s.status for s in record.subscriptions} == {"unsubscribed"}


async def test_examples(tmp_path: Path) -> None:
    summary = await _seed(tmp_path / "newsletter.db")
    examples = summary.examples
    assert examples.everywhere is not None
    assert examples.everywhere.customer_numbers == ["K100001"]  # customer index 0
    assert examples.everywhere.expected_counts == seeded_newsletter(0, SEED).counts
    assert set(examples.everywhere.expected_counts) == set(CATEGORIES)
    assert examples.company_contact is not None
    assert examples.two_email_person is not None
    assert len(examples.two_email_person.emails) == 2
    assert examples.two_email_person.expected_counts["subscriber"] == 2
    assert examples.shared_email_pair is not None
    assert examples.shared_email_pair.ambiguous
    assert len(examples.shared_email_pair.emails) == 1
    assert len(examples.shared_email_pair.names) == 2
    assert examples.previously_erased is not None
    assert examples.previously_erased.expected_counts["blocklist"] == 1
    assert examples.previously_erased.expected_counts["subscriber"] == 0
    assert examples.prospect is not None
    assert examples.prospect.customer_numbers == []
    assert ".n" in examples.prospect.emails[0]


async def test_a_larger_seed_has_unique_addresses_and_the_lookup_indexes(tmp_path: Path) -> None:
    path = tmp_path / "newsletter.db"
    summary = await _seed(path, count=1000)  # a clash would fail the unique index
    assert summary.counts["subscribers"] > 400
    indexes = {
        name for (name,) in _query(path, "SELECT name FROM sqlite_master WHERE type='index'")
    }
    for wanted in (
        "ix_subscribers_attribs_customer_number",
        "ix_campaign_views_subscriber_id",
        "ix_link_clicks_subscriber_id",
    ):
        assert wanted in indexes


async def test_empty_seed(tmp_path: Path) -> None:
    path = tmp_path / "newsletter.db"
    summary = await _seed(path, count=0)
    assert summary.counts["subscribers"] == 0
    assert summary.counts["lists"] == 5
    assert summary.examples.everywhere is None


def test_only_sqlite() -> None:
    assert sqlite_database_url("sqlite:///x.db").get_driver_name() == "aiosqlite"
    with pytest.raises(ValueError, match="SQLite"):
        sqlite_database_url("postgresql://localhost/newsletter")
