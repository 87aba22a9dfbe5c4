"""The shared-hosting control panel's database: accounts and what hangs off them.

SQLAlchemy Core tables, portable between SQLite and MariaDB/MySQL. Why these choices:

- Times are UTC and stored without a zone (`DateTime` naive): MariaDB's DATETIME has no zone, and
  one convention on both backends keeps comparisons and exports identical.
- E-mail addresses, mailbox addresses, usernames and domain names are stored lower-case and the
  MariaDB tables use a binary collation, so an index lookup compares exactly the same way on both
  backends (MariaDB 10.11 has no functional indexes, so `lower(email)` could not be indexed).
- `backups` has no foreign key to `accounts`: the backup catalogue belongs to the backup system,
  its copies outlive a deleted account until they expire, and they are found by the account's
  username and customer number.
- Every column a data-subject request searches by is indexed (the unique constraints are indexes
  too), so locating a subject stays an index lookup at a million customers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
)

__all__ = [
    "ACCOUNT_STATUSES",
    "access_logs",
    "accounts",
    "backups",
    "databases",
    "domains",
    "ftp_users",
    "mailboxes",
    "metadata",
]

ACCOUNT_STATUSES = ("active", "suspended", "closed")

# MariaDB: InnoDB for foreign keys and transactions; utf8mb4 for Swedish names; a binary
# collation so that equality means what it means in SQLite. Other dialects ignore these.
_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (auto-numbered); elsewhere the
# access log, the biggest table, needs 64-bit ids.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("customer_number", String(32), nullable=False),
    Column("owner_name", String(200), nullable=False),  # a person, or a company's contact person
    Column("email", String(254), nullable=False),  # lower-case
    Column("phone", String(20)),  # E.164
    Column("plan", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("closed_at", DateTime),  # set when the service was terminated
    Column("restricted", Boolean, nullable=False, default=False),
    CheckConstraint("status IN ('active', 'suspended', 'closed')", name="status"),
    **_MYSQL,
)

domains = Table(
    "domains",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(253), nullable=False, unique=True),  # lower-case, no trailing dot
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    **_MYSQL,
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("address", String(254), nullable=False, unique=True),  # lower-case
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("quota_mb", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    **_MYSQL,
)

databases = Table(
    "databases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    **_MYSQL,
)

ftp_users = Table(
    "ftp_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("home_path", String(255), nullable=False),
    **_MYSQL,
)

access_logs = Table(
    "access_logs",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("ip_address", String(45), nullable=False),  # IPv4 or IPv6
    Column("method", String(8), nullable=False),
    Column("path", String(300), nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("user_agent", String(400), nullable=False),
    **_MYSQL,
)

backups = Table(
    "backups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(32), nullable=False),
    Column("customer_number", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),  # created_at + 3 months (the policy)
    Column("path", String(300), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    **_MYSQL,
)

# Lookup indexes: every identifier searched by, and every foreign key followed from an account.
Index("ix_accounts_customer_number", accounts.c.customer_number)
Index("ix_accounts_email", accounts.c.email)
Index("ix_accounts_phone", accounts.c.phone)
Index("ix_domains_account_id", domains.c.account_id)
Index("ix_mailboxes_account_id", mailboxes.c.account_id)
Index("ix_databases_account_id", databases.c.account_id)
Index("ix_ftp_users_account_id", ftp_users.c.account_id)
Index("ix_access_logs_account_id", access_logs.c.account_id)
Index("ix_backups_username", backups.c.username)
Index("ix_backups_customer_number", backups.c.customer_number)
