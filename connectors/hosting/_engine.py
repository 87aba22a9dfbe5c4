"""The async engine for the control panel's database: MariaDB/MySQL (aiomysql) or SQLite.

Why the settings below: every statement needs a bound (a hung query must not hold an activity
forever), so MariaDB sessions get `max_statement_time` and lock-wait timeouts, connections get a
connect timeout, and SQLite a busy timeout. SQLAlchemy never logs parameter values, and the
SQLite driver's DEBUG records (which print every statement with its parameters) are dropped.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from connectors.base import ConfigurationError
from connectors.base.sqlite import prepare_sqlite_engine

__all__ = ["create_hosting_engine"]

_MYSQL_BACKENDS = ("mysql", "mariadb")


def create_hosting_engine(
    database_url: str | URL,
    *,
    statement_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    pool_size: int = 5,
) -> AsyncEngine:
    """An async engine for the hosting panel's database."""
    try:
        url = make_url(database_url)
    except (sa_exc.ArgumentError, ValueError):
        raise ConfigurationError("hosting database URL is not a valid database URL") from None
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend in _MYSQL_BACKENDS:
        url = url.set(drivername=f"{backend}+aiomysql").update_query_dict({"charset": "utf8mb4"})
        connect_args: dict[str, Any] = {"connect_timeout": connect_timeout}
        kwargs = {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_timeout": connect_timeout,
            "pool_recycle": 3600,  # below MariaDB's wait_timeout: never reuse a dropped socket
        }
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
        connect_args = {"timeout": statement_timeout}  # how long to wait for a lock
    else:
        raise ConfigurationError(
            f"hosting supports mariadb, mysql and sqlite databases, not {backend}"
        )
    try:
        engine = create_async_engine(
            url,
            hide_parameters=True,  # SQLAlchemy must never log or print parameter values
            pool_pre_ping=True,
            connect_args=connect_args,
            **kwargs,
        )
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, sa_exc.InvalidRequestError):
        raise ConfigurationError("hosting database URL names an unusable driver") from None
    if backend == "sqlite":
        prepare_sqlite_engine(engine)
    else:
        event.listen(engine.sync_engine, "connect", _mysql_session_limits(statement_timeout))
    return engine


def _mysql_session_limits(statement_timeout: float) -> Any:
    """A connect hook bounding every statement and lock wait of the session."""
    seconds = max(1, math.ceil(statement_timeout))

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT VERSION()")
            version = str(cursor.fetchone()[0])
            if "mariadb" in version.lower():
                cursor.execute(f"SET SESSION max_statement_time = {float(statement_timeout)}")
            else:  # MySQL bounds only SELECT statements, in milliseconds
                cursor.execute(f"SET SESSION max_execution_time = {int(statement_timeout * 1000)}")
            cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {seconds}")
            cursor.execute(f"SET SESSION lock_wait_timeout = {seconds}")
        finally:
            cursor.close()

    return on_connect
