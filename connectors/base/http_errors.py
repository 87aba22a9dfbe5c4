"""One table from HTTP answers (and failures to get one) to the typed connector errors.

Why one table: each HTTP connector used to write its own `status_error`, and they disagreed
(a 404 from a mistyped base URL was a ConfigurationError in one, a PermanentError in another; a
3xx was a redirect to fix in the settings in two and "refused" in the third). What a status
*means* for the workflow is the same for every JSON API, so it is written once, as data, in the
manner of airbyte-python-cdk's `DEFAULT_ERROR_MAPPING`:

    3xx                          ConfigurationError  redirects are never followed (they would
                                                     resend the credentials): fix the base URL
    401, 403                     AuthenticationError the credentials are wrong or lack a right
    404, 405, 501                ConfigurationError  no such endpoint / call: fix the base URL
    408, 425, 500, 502-504,
    other 5xx                    SystemUnavailable   the system may answer later
    429                          RateLimited         `retry_after` from the Retry-After header
    other 4xx                    PermanentError      the same request cannot succeed later
    timeouts                     SystemUnavailable
    refused, reset, DNS, proxy,
    protocol errors              SystemUnavailable
    unusable URL or scheme       ConfigurationError
    undecodable body, others     PermanentError

A 404 (or any status) that is an *answer* for a call, "not found" on a search or a delete, is
accepted by that call and never reaches the table. A system that really differs declares only
its difference, as data: `HttpErrors("support", {403: ErrorRule(ConfigurationError, ...)})`.

Messages name the system, the call (operation, and the endpoint's fixed label if any) and the
status or exception class: never a URL, a body or a header, which may hold personal data. The
Retry-After of a 429 or 503 rides on the retryable error (`retry_after`), for the in-call
retry (`connectors.base.retry`) and for Temporal's `next_retry_delay`.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

import httpx

from connectors.base._errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimited,
    RetryableError,
    SystemUnavailable,
)

__all__ = [
    "DEFAULT_STATUS_ERRORS",
    "ErrorRule",
    "HttpErrors",
    "parse_retry_after",
]


@dataclass(frozen=True)
class ErrorRule:
    """What one answer means: the typed error and, in words without personal data, why."""

    error: type[ConnectorError]
    says: str


DEFAULT_STATUS_ERRORS: Mapping[int, ErrorRule] = MappingProxyType(
    {
        401: ErrorRule(AuthenticationError, "rejected the credentials"),
        403: ErrorRule(AuthenticationError, "refused the credentials a right"),
        404: ErrorRule(ConfigurationError, "has no such endpoint: check the base URL"),
        405: ErrorRule(ConfigurationError, "does not support the call"),
        408: ErrorRule(SystemUnavailable, "timed out the request"),
        425: ErrorRule(SystemUnavailable, "asked to retry later"),
        429: ErrorRule(RateLimited, "rate limited"),
        500: ErrorRule(SystemUnavailable, "failed on its side"),
        501: ErrorRule(ConfigurationError, "does not implement the call"),
        502: ErrorRule(SystemUnavailable, "unavailable behind its proxy"),
        503: ErrorRule(SystemUnavailable, "unavailable"),
        504: ErrorRule(SystemUnavailable, "unavailable behind its proxy"),
    }
)
# A status not in the table is read by its class.
_BY_CLASS: Mapping[int, ErrorRule] = MappingProxyType(
    {
        3: ErrorRule(ConfigurationError, "redirected: check the base URL"),
        4: ErrorRule(PermanentError, "rejected the request"),
        5: ErrorRule(SystemUnavailable, "failed on its side"),
    }
)
_UNEXPECTED = ErrorRule(PermanentError, "answered with an unexpected status")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from a Retry-After header: delta-seconds or an HTTP date (RFC 9110
    10.2.3); None when absent or unreadable (the retry's own backoff applies then)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class HttpErrors:
    """The table for one system: the defaults, with that system's `overrides` on top."""

    system: str
    overrides: Mapping[int, ErrorRule] = field(default_factory=dict)

    def rule(self, status: int) -> ErrorRule:
        return (
            self.overrides.get(status)
            or DEFAULT_STATUS_ERRORS.get(status)
            or _BY_CLASS.get(status // 100, _UNEXPECTED)
        )

    def for_status(
        self,
        status: int,
        *,
        operation: str,
        endpoint: str = "",
        retry_after: float | None = None,
    ) -> ConnectorError:
        """The typed error for an HTTP status the call did not accept."""
        rule = self.rule(status)
        message = f"{self._where(operation, endpoint)}: {rule.says} (HTTP {status})"
        if issubclass(rule.error, RetryableError):
            return rule.error(message, retry_after=retry_after)
        return rule.error(message)

    def for_response(
        self, response: httpx.Response, *, operation: str, endpoint: str = ""
    ) -> ConnectorError:
        return self.for_status(
            response.status_code,
            operation=operation,
            endpoint=endpoint,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def for_transport(
        self, exc: httpx.HTTPError, *, operation: str, endpoint: str = ""
    ) -> ConnectorError:
        """The typed error for a call that got no usable answer."""
        kind = type(exc).__name__
        where = self._where(operation, endpoint)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ConfigurationError(f"{self.system} base URL is not usable ({kind})")
        if isinstance(exc, httpx.TimeoutException):  # connect, read, write or pool
            return SystemUnavailable(f"{where}: timed out ({kind})")
        if isinstance(exc, httpx.TransportError):  # refused, reset, DNS, proxy, protocol
            return SystemUnavailable(f"{where}: unreachable ({kind})")
        return PermanentError(f"{where}: failed ({kind})")  # undecodable body, ...

    def unexpected(
        self, operation: str, endpoint: str = "", what: str = "response"
    ) -> PermanentError:
        """A 2xx whose body is not what the API promises (the body is never quoted)."""
        return PermanentError(f"{self._where(operation, endpoint)}: unexpected {what}")

    @contextmanager
    def translating(self, operation: str, endpoint: str = "") -> Iterator[None]:
        """httpx failures inside the block as typed errors, for connector code that calls httpx
        itself (e.g. streaming a download); other exceptions, such as an export sink's full
        disk, pass through unchanged."""
        try:
            yield
        except httpx.HTTPError as exc:
            raise self.for_transport(exc, operation=operation, endpoint=endpoint) from None

    def _where(self, operation: str, endpoint: str) -> str:
        return (
            f"{self.system} {endpoint} during {operation}"
            if endpoint
            else (f"{self.system} {operation}")
        )
