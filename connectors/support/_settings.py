"""Settings of the support connector, from the environment (prefix `DSR_SUPPORT_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SupportSettings"]


class SupportSettings(BaseSettings):
    """`DSR_SUPPORT_BASE_URL` and `DSR_SUPPORT_API_TOKEN` (required), timeouts, retries, paging."""

    model_config = SettingsConfigDict(env_prefix="DSR_SUPPORT_", extra="ignore")

    # The help desk's address, e.g. https://company.zendesk.com (no /api/v2).
    base_url: str | None = None
    api_token: SecretStr | None = None
    # Seconds one HTTP request may take (each of connect, read, write and pool wait).
    timeout: float = Field(default=30.0, gt=0, le=600)
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    # Retries of one request after an outage, a 5xx or a 429, with exponential backoff.
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base: float = Field(default=0.5, gt=0, le=60)
    backoff_max: float = Field(default=30.0, gt=0, le=600)
    # The longest Retry-After the connector waits out itself; longer, and it raises RateLimited
    # at once so the workflow (Temporal) retries the activity later instead of holding a worker.
    max_retry_after: float = Field(default=60.0, ge=0, le=3600)
    # Items per page (the API allows at most 100) and requests in flight per operation.
    page_size: int = Field(default=100, ge=1, le=100)
    concurrency: int = Field(default=4, ge=1, le=32)
