"""The support desk's database: organizations, users, tickets, comments, attachments, calls and
satisfaction ratings, shaped like the objects of Zendesk's REST API v2.

SQLAlchemy Core tables, portable between SQLite and PostgreSQL. Every column the API filters by
is indexed (user e-mail, phone, external id, and the deleted users; tickets by requester and
external id; comments by ticket; calls and ratings by user), and every list is ordered by
primary key, so each request is an index range scan even at a million customers: a cursor page
is `WHERE fk = ? AND id > ? ORDER BY id LIMIT n`, served by a composite (fk, id) index.

There are no foreign keys from tickets to users: as in Zendesk, a ticket outlives the permanent
deletion of its requester (it then shows a deleted user), so the support desk can keep tickets
that must be kept while the person's own record is gone.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "LEGAL_HOLD_TAG",
    "TICKET_STATUSES",
    "attachments",
    "calls",
    "comments",
    "metadata",
    "organizations",
    "satisfaction_ratings",
    "tickets",
    "users",
]

TICKET_STATUSES = ("new", "open", "pending", "solved", "closed")
# Tickets carrying this tag must be kept (a billing dispute, a complaint that may go to court).
LEGAL_HOLD_TAG = "legal_hold"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("organization_number", String(11)),  # NNNNNN-NNNN, in organization_fields
    Column("created_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254)),  # stored lower-case; unique, like a Zendesk primary identity
    Column("phone", String(20)),  # E.164
    Column("role", String(16), nullable=False),
    Column("organization_id", Integer, ForeignKey("organizations.id")),
    Column("external_id", String(64)),  # the company's customer number
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("active", Boolean, nullable=False),  # False once deleted (soft), until purged
    Column("deleted_at", DateTime(timezone=True)),
    CheckConstraint("role IN ('end-user', 'agent', 'admin')", name="role"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("requester_id", Integer, nullable=False),  # no FK: tickets outlive their requester
    Column("submitter_id", Integer, nullable=False),
    Column("assignee_id", Integer),
    Column("organization_id", Integer),
    Column("tags", Text, nullable=False),  # space-separated, lower-case, as Zendesk stores them
    Column("external_id", String(64)),
    Column("via_channel", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('new', 'open', 'pending', 'solved', 'closed')", name="status"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False),
    Column("author_id", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("public", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("comment_id", Integer, ForeignKey("comments.id"), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content_url", String(500), nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False),  # Talk keeps calls apart from the user record
    Column("ticket_id", Integer),
    Column("direction", String(8), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration", Integer, nullable=False),  # seconds
    Column("recording_url", String(500)),
    CheckConstraint("direction IN ('inbound', 'outbound')", name="direction"),
)

satisfaction_ratings = Table(
    "satisfaction_ratings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("score", String(8), nullable=False),
    Column("comment", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("score IN ('good', 'bad')", name="score"),
)

# Lookup indexes: the three ways a DSR finds a user, then every list the API pages through.
Index("uq_users_email", users.c.email, unique=True)
Index("uq_users_external_id", users.c.external_id, unique=True)
Index("ix_users_phone", users.c.phone)
# Partial: the deleted users not yet purged (listed in id order) are a handful among a million,
# and statistics over all users would make the planner think `active` no filter and scan by id.
Index(
    "ix_users_active_id",
    users.c.active,
    users.c.id,
    sqlite_where=users.c.active.is_(False),
    postgresql_where=users.c.active.is_(False),
)
Index("ix_tickets_requester_id_id", tickets.c.requester_id, tickets.c.id)
# Partial: almost every ticket has no external id, and statistics over all those NULLs would
# make the planner think a lookup by external id is not selective and scan by id instead.
Index(
    "ix_tickets_external_id_id",
    tickets.c.external_id,
    tickets.c.id,
    sqlite_where=tickets.c.external_id.isnot(None),
    postgresql_where=tickets.c.external_id.isnot(None),
)
Index("ix_comments_ticket_id_id", comments.c.ticket_id, comments.c.id)
Index("ix_attachments_comment_id", attachments.c.comment_id)
Index("ix_calls_user_id_id", calls.c.user_id, calls.c.id)
Index("ix_calls_ticket_id", calls.c.ticket_id)
Index(
    "ix_satisfaction_ratings_user_id_id", satisfaction_ratings.c.user_id, satisfaction_ratings.c.id
)
Index("ix_satisfaction_ratings_ticket_id", satisfaction_ratings.c.ticket_id)
