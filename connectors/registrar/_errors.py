"""The registrar's failures as typed connector errors, without personal data.

The request URL (a domain name), the body (an e-mail address) and the response (a contact) may
all hold personal data, and httpx puts the URL into its exception messages. What a status means
is the shared table (`connectors.base.http_errors`): the registrar's admin API needs no override
of it (a 404 it did not accept is a base URL pointing at the wrong place, a 500 is its database
failing over and retried, a 3xx is never followed). Retries and Retry-After are the shared
client's; what stays here is the registrar's own wording of a body it cannot read.
"""

from __future__ import annotations

from connectors.base import PermanentError
from connectors.base.http_errors import HttpErrors, parse_retry_after

__all__ = ["ERRORS", "SinkFailure", "parse_retry_after", "unexpected_response"]

ERRORS = HttpErrors("registrar")


class SinkFailure(Exception):
    """Wraps an exception raised by the caller's export sink, so it passes through untranslated."""

    def __init__(self, original: Exception) -> None:
        super().__init__("export sink failed")
        self.original = original


def unexpected_response(operation: str) -> PermanentError:
    return ERRORS.unexpected(operation)
