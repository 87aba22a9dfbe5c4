"""Settings of the hosting connector, from the environment (prefix `DSR_HOSTING_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["HostingSettings"]


class HostingSettings(BaseSettings):
    """`DSR_HOSTING_DATABASE_URL` (required; a secret, it may hold a password) and
    `DSR_HOSTING_HOME_ROOT` (required: where the account home directories are), timeouts,
    and pool size (retries are Temporal's: DSR_RETRY_*)."""

    model_config = SettingsConfigDict(env_prefix="DSR_HOSTING_", extra="ignore")

    database_url: SecretStr | None = None
    home_root: Path | None = None
    # Seconds one statement may run (MariaDB max_statement_time; SQLite busy timeout).
    statement_timeout: float = Field(default=30.0, gt=0, le=3600)
    # Seconds to wait for a connection.
    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    # Seconds one whole operation may take (an export of a large access log included).
    operation_timeout: float = Field(default=900.0, gt=0, le=86400)
    pool_size: int = Field(default=5, ge=1, le=100)
