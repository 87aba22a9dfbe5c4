"""The billing database engine: PostgreSQL via asyncpg, or SQLite via aiosqlite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from connectors.base import ConfigurationError
from connectors.base.sqlite import prepare_sqlite_engine

__all__ = ["create_billing_engine"]


def create_billing_engine(
    database_url: str | URL,
    *,
    statement_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    pool_size: int = 4,
) -> AsyncEngine:
    """An async engine for the billing database (PostgreSQL via asyncpg, or SQLite)."""
    try:
        url = make_url(database_url)
    except (sa_exc.ArgumentError, ValueError):
        raise ConfigurationError("billing database URL is not a valid database URL") from None
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "postgresql":
        url = url.set(drivername="postgresql+asyncpg")
        connect_args: dict[str, Any] = {
            "timeout": connect_timeout,
            "command_timeout": statement_timeout + 5,  # the server's timeout should fire first
            "server_settings": {
                "statement_timeout": str(int(statement_timeout * 1000)),
                "application_name": "dsr-connector-billing",
            },
        }
        kwargs = {
            "pool_size": pool_size,
            # A hard cap: overflow let a burst open twice pool_size backends (~7 MiB each).
            "max_overflow": 0,
            "pool_timeout": connect_timeout,
        }
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
        connect_args = {"timeout": statement_timeout}  # how long to wait for a lock
    else:
        raise ConfigurationError(f"billing supports postgresql and sqlite databases, not {backend}")
    try:
        engine = create_async_engine(
            url,
            hide_parameters=True,  # SQLAlchemy must never log or print parameter values
            pool_pre_ping=True,
            connect_args=connect_args,
            **kwargs,
        )
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, sa_exc.InvalidRequestError):
        raise ConfigurationError("billing database URL names an unusable driver") from None
    if backend == "sqlite":
        prepare_sqlite_engine(engine)
    return engine
