"""HTTP failures as typed connector errors, without personal data or secrets.

URLs carry personal data (`/users/search?query=email:…`) and response bodies echo it (a 422 names
the e-mail address already in use), so a typed error names only the operation, the endpoint's
label (e.g. "users.search") and the HTTP status or exception class, and is raised `from None`:
the original is not chained into logs or Temporal failures.
"""

from __future__ import annotations

from connectors.base import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimited,
    SystemUnavailable,
)

__all__ = ["RETRYABLE_STATUSES", "SinkFailure", "for_status", "for_transport"]

# Worth another try: the desk is overloaded, restarting or behind a failing proxy.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class SinkFailure(Exception):
    """Wraps an exception raised by the caller's export sink, so it passes through untranslated."""

    def __init__(self, original: Exception) -> None:
        super().__init__("export sink failed")
        self.original = original


def for_status(
    status: int, operation: str, endpoint: str, retry_after: float | None = None
) -> ConnectorError:
    """The typed error for an HTTP error status (404 is handled by the caller: not an error)."""
    where = f"support API {endpoint} during {operation}"
    if status == 429:
        return RateLimited(f"{where}: rate limited (HTTP 429)", retry_after=retry_after)
    if status in RETRYABLE_STATUSES:
        return SystemUnavailable(f"{where}: unavailable (HTTP {status})")
    if status == 401:
        return AuthenticationError(f"{where}: the API token was rejected (HTTP 401)")
    if status == 403:
        return ConfigurationError(f"{where}: the API token lacks a permission (HTTP 403)")
    if status >= 500:
        return SystemUnavailable(f"{where}: server error (HTTP {status})")
    return PermanentError(f"{where}: request rejected (HTTP {status})")


def for_transport(exc: BaseException, operation: str, endpoint: str) -> SystemUnavailable:
    """Timeouts, refused or reset connections, DNS failures: the desk is unreachable."""
    return SystemUnavailable(
        f"support API {endpoint} unreachable during {operation} ({type(exc).__name__})"
    )
