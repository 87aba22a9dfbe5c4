"""Settings of the support connector, from the environment (prefix `DSR_SUPPORT_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.base.http import HttpSettings

__all__ = ["SupportSettings"]


class SupportSettings(HttpSettings):
    """`DSR_SUPPORT_BASE_URL` and `DSR_SUPPORT_API_TOKEN` (required), paging and concurrency;
    the timeouts and `DSR_SUPPORT_RETRY_*` every HTTP connector has
    (`connectors.base.http.HttpSettings`)."""

    model_config = SettingsConfigDict(env_prefix="DSR_SUPPORT_", extra="ignore")

    # The help desk's address, e.g. https://company.zendesk.com (no /api/v2).
    base_url: str | None = None
    api_token: SecretStr | None = None
    # A desk export reads large pages: a longer read timeout than the shared default.
    timeout: float = Field(default=30.0, gt=0, le=600)
    # Items per page (the API allows at most 100) and requests in flight per operation.
    page_size: int = Field(default=100, ge=1, le=100)
    concurrency: int = Field(default=4, ge=1, le=32)
