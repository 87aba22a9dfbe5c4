"""Typed errors raised by the store.

Hierarchy::

    StoreError                 base class: anything the store refuses or cannot do
    ├── UnsupportedDatabase    the URL names a database the store does not support
    │                          (only SQLite files and PostgreSQL are)
    ├── SchemaOutOfDate        the database is not at this code's newest migration: with
    │                          `Store.open(..., migrate=False)` (run `python -m orchestrator.store
    │                          upgrade`), or, even when migrating, at a revision this code does
    │                          not know (a newer version migrated it)
    └── AuditChainBroken       `verify_audit_chain()` found an entry whose hash or link to the
                               previous entry does not match: the trail was altered

A migration that fails for another reason raises `StoreError` (chained to Alembic's error).
Invalid arguments (a naive datetime, a non-positive limit) raise `ValueError`; errors from the
database driver that the store does not interpret propagate as they come: SQLAlchemy's
`DBAPIError` subclasses (disk full, a lock), or the socket's own `OSError` for a PostgreSQL
server that cannot be reached (asyncpg connects before SQLAlchemy wraps anything); the CLIs
turn the latter into one line.
"""

from __future__ import annotations

import socket

__all__ = [
    "DATABASE_UNREACHABLE",
    "AuditChainBroken",
    "SchemaOutOfDate",
    "StoreError",
    "UnsupportedDatabase",
]

# What reaching no PostgreSQL server raises: the socket's own errors, since asyncpg connects
# before SQLAlchemy wraps anything (refused, name not resolved, timed out). Their text is an
# address or an errno, never the URL's password.
DATABASE_UNREACHABLE: tuple[type[OSError], ...] = (ConnectionError, socket.gaierror, TimeoutError)


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class UnsupportedDatabase(StoreError):
    """The database URL is not a SQLite file or a PostgreSQL database."""


class SchemaOutOfDate(StoreError):
    """The database schema is not at the migration head and the store was told not to migrate."""

    def __init__(self, current: str | None, head: str, *, known: bool = True) -> None:
        self.current = current
        self.head = head
        advice = (
            "run `python -m orchestrator.store upgrade`"
            if known
            else "a newer version of the store migrated it; upgrade this program"
        )
        super().__init__(
            f"database schema is at revision {current or '<empty>'}, "
            f"this version of the store needs {head}: {advice}"
        )


class AuditChainBroken(StoreError):
    """An audit entry does not match its hash or does not link to its predecessor."""

    def __init__(self, sequence: int, reason: str) -> None:
        self.sequence = sequence
        self.reason = reason
        super().__init__(f"audit chain broken at sequence {sequence}: {reason}")
