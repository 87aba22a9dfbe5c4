"""The sandbox's database engine: SQLite through aiosqlite, WAL, foreign keys enforced.

WAL lets the API read while another request writes; the busy timeout makes a writer wait for
the lock instead of failing at once when two requests write together.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sandbox.newsletter.seed import sqlite_database_url

__all__ = ["create_engine"]


class _NoDriverDebug(logging.Filter):
    """Drops aiosqlite's DEBUG records: they print statement parameters (e-mail addresses)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_DRIVER_FILTER = _NoDriverDebug()


def create_engine(database_url: str) -> AsyncEngine:
    url = sqlite_database_url(database_url)
    engine = create_async_engine(url, hide_parameters=True, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _on_connect)
    driver_log = logging.getLogger("aiosqlite")
    if _DRIVER_FILTER not in driver_log.filters:
        driver_log.addFilter(_DRIVER_FILTER)
    return engine


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
