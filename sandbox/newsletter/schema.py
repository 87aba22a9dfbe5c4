"""The newsletter system's database, shaped like listmonk's: subscribers, lists, subscriptions,
campaigns, per-subscriber tracking (campaign views, link clicks), and a blocklist of salted hashes.

SQLAlchemy Core tables on SQLite. Every column a DSR searches by is indexed, so finding a
subject stays an index lookup at a million customers:
- `subscribers.email` is unique and stored lower-cased (addresses compare case-insensitively);
- `attribs->>'customer_number'` has an expression index (`json_extract` on SQLite), the same
  expression the query parser builds (see `attrib`), or SQLite would not use it;
- the tracking tables are indexed by subscriber, so a subscriber's views and clicks are found
  (and deleted) without scanning.

Differences from listmonk, on purpose: a campaign targets one list (`list_id`) instead of a
`campaign_lists` table, and the blocklist holds salted hashes of addresses (listmonk's own
blocklist is a subscriber status and a domain list): after an erasure the address itself is gone,
and only its keyed hash stops it from coming back through an import.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
    literal_column,
)

__all__ = [
    "INDEXED_ATTRIBS",
    "LIST_OPTINS",
    "LIST_TYPES",
    "SUBSCRIBER_STATUSES",
    "SUBSCRIPTION_STATUSES",
    "attrib",
    "blocklist_hashes",
    "campaign_views",
    "campaigns",
    "link_clicks",
    "links",
    "lists",
    "metadata",
    "subscriber_lists",
    "subscribers",
]

SUBSCRIBER_STATUSES = ("enabled", "blocklisted")
SUBSCRIPTION_STATUSES = ("unconfirmed", "confirmed", "unsubscribed")
LIST_TYPES = ("public", "private")
LIST_OPTINS = ("single", "double")
# attribs keys with an expression index: lookups by any other key scan the table.
INDEXED_ATTRIBS = ("customer_number",)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("email", String(254), nullable=False, unique=True),  # lower-cased
    Column("name", String(200), nullable=False),
    Column("attribs", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('enabled', 'blocklisted')", name="status"),
)

lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("optin", String(16), nullable=False),
    Column("description", String(400), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("type IN ('public', 'private')", name="type"),
    CheckConstraint("optin IN ('single', 'double')", name="optin"),
)

subscriber_lists = Table(
    "subscriber_lists",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("list_id", Integer, ForeignKey("lists.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("subscriber_id", "list_id"),  # leads with subscriber_id: its index
    CheckConstraint("status IN ('unconfirmed', 'confirmed', 'unsubscribed')", name="status"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("list_id", Integer, ForeignKey("lists.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("url", String(2000), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

campaign_views = Table(
    "campaign_views",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

link_clicks = Table(
    "link_clicks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("link_id", Integer, ForeignKey("links.id"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

blocklist_hashes = Table(
    "blocklist_hashes",
    metadata,
    Column("hash", String(64), primary_key=True),  # hex HMAC-SHA256 of the normalised address
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def attrib(key: str) -> ColumnElement[str]:
    """`subscribers.attribs->>'key'` as SQLite writes it. The JSON path is a literal, not a
    bound parameter, so the expression is identical to the indexed one. `key` must already be
    validated (the query parser allows only [a-z_][a-z0-9_]*)."""
    return func.json_extract(subscribers.c.attribs, literal_column(f"'$.{key}'"))


# Lookup indexes: every identifier a DSR searches by, and every foreign key followed from there.
for _key in INDEXED_ATTRIBS:
    Index(f"ix_subscribers_attribs_{_key}", attrib(_key))
Index("ix_subscriber_lists_list_id", subscriber_lists.c.list_id)
Index("ix_campaign_views_subscriber_id", campaign_views.c.subscriber_id)
Index("ix_link_clicks_subscriber_id", link_clicks.c.subscriber_id)
Index("ix_campaigns_list_id", campaigns.c.list_id)
