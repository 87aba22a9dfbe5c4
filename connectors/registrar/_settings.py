"""Settings of the registrar connector, from the environment (prefix `DSR_REGISTRAR_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["RegistrarSettings"]


class RegistrarSettings(BaseSettings):
    """`DSR_REGISTRAR_BASE_URL` and `DSR_REGISTRAR_API_TOKEN` (required), timeouts, retries."""

    model_config = SettingsConfigDict(env_prefix="DSR_REGISTRAR_", extra="ignore")

    base_url: str | None = None
    api_token: SecretStr | None = None
    # Seconds one HTTP call may take (connect, each read and write, waiting for a connection).
    timeout: float = Field(default=10.0, gt=0, le=300)
    # Attempts per call for retryable failures (outage, 5xx, 429), the first one included.
    max_attempts: int = Field(default=4, ge=1, le=10)
    # First backoff in seconds; doubled after every failed attempt (with jitter).
    backoff: float = Field(default=0.2, gt=0, le=30)
    # A Retry-After longer than this is not waited for in the activity: RateLimited is raised at
    # once and Temporal retries the activity later.
    max_retry_after: float = Field(default=30.0, ge=0, le=600)
    # Items per page asked for (the platform may return fewer).
    page_size: int = Field(default=100, ge=1, le=1000)
