"""Settings of the newsletter connector, from the environment (prefix `DSR_NEWSLETTER_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.base.http import HttpSettings

__all__ = ["NewsletterSettings"]


class NewsletterSettings(HttpSettings):
    """`DSR_NEWSLETTER_BASE_URL`, `_API_USER`, `_API_TOKEN`, `_BLOCKLIST_SALT` (required), plus
    page size, and the timeouts and `DSR_NEWSLETTER_RETRY_*` every HTTP connector has
    (`connectors.base.http.HttpSettings`).

    The token and the salt are secrets: the salt is the key of the blocklist's address hashes,
    and whoever has it can test guessed addresses against the blocklist.
    """

    model_config = SettingsConfigDict(env_prefix="DSR_NEWSLETTER_", extra="ignore")

    base_url: str | None = None  # e.g. https://listmonk.internal.example (no path)
    api_user: str | None = None
    api_token: SecretStr | None = None
    blocklist_salt: SecretStr | None = None
    page_size: int = Field(default=100, ge=1, le=1000)
