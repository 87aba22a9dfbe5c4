"""Settings of the billing connector, from the environment (prefix `DSR_BILLING_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BillingSettings"]


class BillingSettings(BaseSettings):
    """`DSR_BILLING_DATABASE_URL` (required; a secret, it may hold a password), timeouts, pool."""

    model_config = SettingsConfigDict(env_prefix="DSR_BILLING_", extra="ignore")

    database_url: SecretStr | None = None
    # Seconds one statement may run (PostgreSQL statement_timeout; SQLite busy timeout).
    statement_timeout: float = Field(default=30.0, gt=0, le=3600)
    # Seconds to wait for a connection.
    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    # Connections the connector's worker process holds at most (no overflow).
    pool_size: int = Field(default=4, ge=1, le=100)
