"""HTTP failures of the registrar API as typed connector errors, without personal data.

The request URL (a domain name), the body (an e-mail address) and the response (a contact) may
all hold personal data, and httpx puts the URL into its exception messages. So a typed error
carries only the operation, the HTTP status or the exception class, and it is raised `from None`:
the original is not chained into logs or Temporal failures.

Retries, Retry-After (`parse_retry_after`, re-exported here) and the refusal to follow redirects
are the shared client's (`connectors.base.http`); what stays here is what the registrar's
answers mean.
"""

from __future__ import annotations

import httpx

from connectors.base import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimited,
    SystemUnavailable,
)
from connectors.base.http import parse_retry_after

__all__ = [
    "RETRYABLE_STATUSES",
    "SinkFailure",
    "parse_retry_after",
    "status_error",
    "transport_error",
    "unexpected_response",
]

# Answers worth another attempt: the platform is overloaded, restarting, or behind a proxy
# that lost it. 500 is included: the registrar platform answers 500 while its database fails
# over, and every call the connector makes is idempotent.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class SinkFailure(Exception):
    """Wraps an exception raised by the caller's export sink, so it passes through untranslated."""

    def __init__(self, original: Exception) -> None:
        super().__init__("export sink failed")
        self.original = original


def transport_error(exc: httpx.HTTPError, operation: str) -> ConnectorError:
    """The typed error for a failure to get any answer from the platform."""
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ConfigurationError("registrar base URL is not a usable http(s) URL")
    if isinstance(exc, httpx.TimeoutException):
        return SystemUnavailable(f"registrar timed out during {operation} ({type(exc).__name__})")
    return SystemUnavailable(f"registrar unreachable during {operation} ({type(exc).__name__})")


def status_error(status: int, operation: str, retry_after: float | None = None) -> ConnectorError:
    """The typed error for an HTTP error status."""
    if status == 429:
        return RateLimited(f"registrar rate-limited {operation} (HTTP 429)", retry_after)
    if status in RETRYABLE_STATUSES:
        return SystemUnavailable(f"registrar unavailable during {operation} (HTTP {status})")
    if status in (401, 403):
        return AuthenticationError(f"registrar rejected the API token (HTTP {status})")
    if status == 404:
        return ConfigurationError(
            f"registrar API has no endpoint for {operation} (HTTP 404): check the base URL"
        )
    if 300 <= status < 400:
        # The shared client never follows a redirect (it would resend the token elsewhere), and a
        # redirect is no answer to an admin call: the base URL points at the wrong place.
        return ConfigurationError(
            f"registrar redirected {operation} (HTTP {status}): check the base URL"
        )
    if status in (405, 501):
        return ConfigurationError(f"registrar API does not support {operation} (HTTP {status})")
    return PermanentError(f"registrar rejected {operation} (HTTP {status})")


def unexpected_response(operation: str) -> PermanentError:
    return PermanentError(f"registrar returned an unexpected response to {operation}")
