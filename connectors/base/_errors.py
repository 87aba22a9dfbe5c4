"""Typed connector errors. The workflow retries only what is worth retrying.

    ConnectorError
    ├── RetryableError                 the system may succeed later: Temporal retries with backoff
    │   ├── SystemUnavailable          outage, timeout, connection refused, 5xx
    │   └── RateLimited                429 (`retry_after`: seconds asked to wait, any retryable)
    └── PermanentError                 retrying cannot help: the system is marked failed / manual
        ├── ConfigurationError         missing or wrong settings (URL, database)
        ├── AuthenticationError        bad credentials
        ├── AmbiguousSubject           two people behind one identifier: never erase blindly
        └── UnsupportedOperation       the connector does not declare this operation

Messages must never contain personal data: they reach logs, Temporal failures and the DPO.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousSubject",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectorError",
    "PermanentError",
    "RateLimited",
    "RetryableError",
    "SystemUnavailable",
    "UnsupportedOperation",
]


class ConnectorError(Exception):
    """Base of every error a connector raises on purpose."""

    retryable: bool = False


class RetryableError(ConnectorError):
    """`retry_after`: seconds the system asked us to wait (a Retry-After header), or None for
    the retry policy's own backoff; honoured in the call and by Temporal (`next_retry_delay`)."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SystemUnavailable(RetryableError):
    pass


class RateLimited(RetryableError):
    pass


class PermanentError(ConnectorError):
    retryable = False


class ConfigurationError(PermanentError):
    pass


class AuthenticationError(PermanentError):
    pass


class AmbiguousSubject(PermanentError):
    pass


class UnsupportedOperation(PermanentError):
    pass
