"""The control panel's database as the connector sees it: only the tables and columns it uses.

The panel owns its schema (its reference copy is `sandbox/hosting/schema.py`); the connector
declares the subset it depends on, so production code never imports the sandbox.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table

__all__ = [
    "access_logs",
    "accounts",
    "backups",
    "databases",
    "domains",
    "ftp_users",
    "mailboxes",
]

_metadata = MetaData()

accounts = Table(
    "accounts",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(32), nullable=False),
    Column("customer_number", String(32), nullable=False),
    Column("owner_name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("phone", String(20)),
    Column("plan", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
    Column("restricted", Boolean, nullable=False),
)

domains = Table(
    "domains",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(253), nullable=False),
    Column("account_id", Integer, nullable=False),
)

mailboxes = Table(
    "mailboxes",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("address", String(254), nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("quota_mb", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

databases = Table(
    "databases",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
)

ftp_users = Table(
    "ftp_users",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String(64), nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("home_path", String(255), nullable=False),
)

access_logs = Table(
    "access_logs",
    _metadata,
    Column("id", BigInteger, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("ip_address", String(45), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(300), nullable=False),
    Column("status", Integer, nullable=False),
    Column("user_agent", String(400), nullable=False),
)

backups = Table(
    "backups",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(32), nullable=False),
    Column("customer_number", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("path", String(300), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
)
