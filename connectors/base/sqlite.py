"""SQLite hygiene for connectors whose system may run on SQLite (the local default).

Two things every such connector needs and must not get subtly different: aiosqlite's DEBUG
records print every statement with its parameters (e-mail addresses, personnummer), so they
are dropped whatever the application's log level; and SQLite enforces foreign keys only when
each connection asks, so cascades and references behave as on PostgreSQL or MariaDB.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["prepare_sqlite_engine", "protect_sqlite_driver_logs"]


class _NoDriverDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_DRIVER_FILTER = _NoDriverDebug()


def protect_sqlite_driver_logs() -> None:
    """Drop aiosqlite's DEBUG records (they quote statement parameters). Idempotent."""
    driver_log = logging.getLogger("aiosqlite")
    if _DRIVER_FILTER not in driver_log.filters:
        driver_log.addFilter(_DRIVER_FILTER)


def _foreign_keys_on(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def prepare_sqlite_engine(engine: AsyncEngine) -> None:
    """Protect the driver's logs and turn foreign keys on for every new connection."""
    protect_sqlite_driver_logs()
    event.listen(engine.sync_engine, "connect", _foreign_keys_on)
