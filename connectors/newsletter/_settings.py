"""Settings of the newsletter connector, from the environment (prefix `DSR_NEWSLETTER_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["NewsletterSettings"]


class NewsletterSettings(BaseSettings):
    """`DSR_NEWSLETTER_BASE_URL`, `_API_USER`, `_API_TOKEN`, `_BLOCKLIST_SALT` (required), plus
    timeouts, retries and page size.

    The token and the salt are secrets: the salt is the key of the blocklist's address hashes,
    and whoever has it can test guessed addresses against the blocklist.
    """

    model_config = SettingsConfigDict(env_prefix="DSR_NEWSLETTER_", extra="ignore")

    base_url: str | None = None  # e.g. https://listmonk.internal.example (no path)
    api_user: str | None = None
    api_token: SecretStr | None = None
    blocklist_salt: SecretStr | None = None
    # Seconds to wait for the server's answer (read), and to connect.
    timeout: float = Field(default=10.0, gt=0, le=600)
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    # Retries of one request after an outage, 5xx or 429, with exponential backoff from
    # `backoff_base` seconds; no single wait (Retry-After included) is longer than `backoff_max`.
    # Longer waits are left to Temporal: the connector raises RateLimited / SystemUnavailable.
    max_retries: int = Field(default=4, ge=0, le=10)
    backoff_base: float = Field(default=0.5, gt=0, le=60)
    backoff_max: float = Field(default=30.0, gt=0, le=600)
    page_size: int = Field(default=100, ge=1, le=1000)
