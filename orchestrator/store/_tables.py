"""Table definitions (SQLAlchemy Core). The migrations in `migrations/versions/` create exactly
these; a test compares the two so they cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "AUDIT_APPEND_ONLY_MESSAGE",
    "UTCDateTime",
    "audit_events",
    "completion_records",
    "data_keys",
    "metadata",
    "packages",
    "request_system_outcomes",
    "requests",
    "subject_fingerprints",
]

AUDIT_APPEND_ONLY_MESSAGE = "audit_events is append-only"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is stored as naive UTC
    (fixed-width ISO text, which also sorts correctly) and given `tzinfo=UTC` again on read.
    Naive datetimes are refused rather than guessed at.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} (the store needs aware datetimes)"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: object, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


# The current state of each request, upserted at every status change.
requests = sa.Table(
    "requests",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("completed_at", UTCDateTime, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("systems", sa.JSON, nullable=False),
    # 0002: the statutory deadline day, the Art. 12(3) extension, reminders, DPO decisions.
    sa.Column("due_date", sa.Date, nullable=True),
    sa.Column("extension", sa.JSON, nullable=True),
    sa.Column("reminders", sa.JSON, nullable=True),
    sa.Column("decisions", sa.JSON, nullable=True),
    # 0004: the access package's reference and expiry (a PackageRef document), if any.
    sa.Column("package", sa.JSON, nullable=True),
    # 0006: lifting the restriction of a restriction request (a RestrictionNotice document).
    sa.Column("restriction", sa.JSON, nullable=True),
    sa.Index(None, "status", "received_at"),
    sa.Index(None, "received_at"),
    sa.Index(None, "due_at"),
    sa.Index(None, "kind", "received_at"),
    sa.Index(None, "channel", "received_at"),
    sa.Index(None, "status", "due_at"),
    sa.Index(None, "completed_at"),
    sa.Index(None, "kind", "status", "received_at"),
)

# PostgreSQL only: the list's "completed, newest first" order is `completed_at DESC NULLS LAST`
# (open requests last in both directions, see _queries), which PostgreSQL cannot read from a
# plain index backwards (that gives NULLS FIRST); without this it sorts every completed request
# for each page. SQLite puts NULLs first in an index, so walking ix_requests_completed_at
# backwards already is that order there.
sa.Index(
    "ix_requests_completed_at_desc",
    requests.c.completed_at.desc().nulls_last(),
    requests.c.request_id.desc(),
).ddl_if(dialect="postgresql")

# 0005: each request's per-system outcomes, one row per (request, system): the desk's outcome
# filter ("any system failed", "billing retained") is an indexed equality instead of a
# leading-wildcard LIKE over every request (0003's `requests.system_outcomes`, dropped). The
# store replaces a request's rows in the transaction that writes its `requests` row (_store).
# No foreign key: nothing but that write touches these rows, and one would make every
# TRUNCATE/bulk load of `requests` name this table too. WITHOUT ROWID on SQLite: the probe by
# request id reads the outcome straight from the primary key's b-tree.
request_system_outcomes = sa.Table(
    "request_system_outcomes",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("system", sa.String(64), primary_key=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Index(None, "outcome", "system", "request_id"),
    sqlite_with_rowid=False,
)

# One completion record per request, written once.
completion_records = sa.Table(
    "completion_records",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Append-only, hash-chained audit trail (UPDATE/DELETE are rejected by triggers).
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("sequence", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("request_id", sa.Text, nullable=False, index=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("dedupe_key", sa.Text, nullable=False, unique=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # Never reuse a sequence number on SQLite, even if the last row were somehow removed.
    sqlite_autoincrement=True,
)

# 0002: keyed hashes (HMAC-SHA256) of each request's normalised subject identifiers, never the
# identifiers themselves: finds a repeated access/portability request of the same subject.
# 0007: `identity`, whether the fingerprint is of a personnummer or organisation number (NULL:
# written before it was recorded).
subject_fingerprints = sa.Table(
    "subject_fingerprints",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("identity", sa.Boolean, nullable=True),
    sa.Index(None, "fingerprint", "received_at"),
)

# 0004 (at rest): one data key per request, wrapped by a master payload key (DSR_PAYLOAD_KEYS).
# Destroying it (wrapped_key NULL, destroyed_at set) makes the request's Temporal history, its
# access package and any copy sealed with it unreadable: crypto-shredding.
data_keys = sa.Table(
    "data_keys",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("master_key_id", sa.String(64), nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The earliest moment the key may be destroyed (anything still needing it pushes this on).
    sa.Column("retain_until", UTCDateTime, nullable=True),
    sa.Column("destroyed_at", UTCDateTime, nullable=True),
)

# 0004: one encrypted access package per access/portability request, and when it expires.
packages = sa.Table(
    "packages",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime, nullable=True),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Index(None, "expires_at"),
)
