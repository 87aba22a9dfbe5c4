"""Settings of the registrar connector, from the environment (prefix `DSR_REGISTRAR_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.base.http import HttpSettings

__all__ = ["RegistrarSettings"]


class RegistrarSettings(HttpSettings):
    """`DSR_REGISTRAR_BASE_URL` and `DSR_REGISTRAR_API_TOKEN` (required); the timeouts and
    `DSR_REGISTRAR_RETRY_*` every HTTP connector has (`connectors.base.http.HttpSettings`)."""

    model_config = SettingsConfigDict(env_prefix="DSR_REGISTRAR_", extra="ignore")

    base_url: str | None = None
    api_token: SecretStr | None = None
    # Items per page asked for (the platform may return fewer).
    page_size: int = Field(default=100, ge=1, le=1000)
