"""The HTTP side of the newsletter connector: listmonk's API on the shared `HttpClient`.

Timeouts, retries with backoff, Retry-After and quiet httpx logs come from
`connectors.base.http`. What stays here is particular to listmonk: `token user:token` auth, the
meaning of its answers, and its page-numbered listings (`{"data": {"results": [...], "total": n}}`).

Outages (connection refused or reset, timeouts) and 502/503/504/500 are retried with exponential
backoff and jitter; 429 waits as long as Retry-After says. No single wait is longer than
`backoff_max`: a longer Retry-After, or retries running out, raises RateLimited /
SystemUnavailable at once, so Temporal retries the activity later instead of the worker sleeping
on it. 401/403 is AuthenticationError; other 4xx are PermanentError unless the caller expects them
(404 "not found" is an answer, not a failure). Error messages name the operation, the HTTP status
and the exception class only: URLs carry addresses in their query string, and response bodies may
quote what was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from connectors.base import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimited,
    SystemUnavailable,
)
from connectors.base.http import HttpClient, RetryPolicy, numbered_pages

__all__ = ["ListmonkClient"]

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


def _status_error(
    status: int, *, operation: str, endpoint: str, retry_after: float | None
) -> ConnectorError:
    if status in (401, 403):
        return AuthenticationError(f"newsletter API rejected the credentials (HTTP {status})")
    if status == 429:
        return RateLimited(
            f"newsletter API rate limit reached during {operation} (HTTP 429)", retry_after
        )
    if status in _RETRYABLE_STATUS:
        return SystemUnavailable(f"newsletter API unavailable during {operation} (HTTP {status})")
    return PermanentError(f"newsletter API refused {operation} (HTTP {status})")


def _transport_error(
    exc: httpx.HTTPError, *, operation: str, endpoint: str
) -> ConnectorError | None:
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return SystemUnavailable(f"newsletter API timed out during {operation} ({kind})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigurationError("newsletter base URL cannot be used")
    if isinstance(exc, httpx.TransportError):  # refused, reset, DNS, protocol errors
        return SystemUnavailable(f"newsletter API unreachable during {operation} ({kind})")
    return None


class ListmonkClient:
    """One connection pool to listmonk's API, authenticated with `token user:token`."""

    def __init__(
        self,
        base_url: str,
        api_user: str,
        api_token: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        if not api_user or not api_token:
            raise ConfigurationError("newsletter API user and token must not be empty")
        self._http = HttpClient(
            base_url,
            system="newsletter",
            authorization=f"token {api_user}:{api_token}",
            retry=RetryPolicy(
                max_retries=max_retries,
                backoff_initial=backoff_base,
                backoff_max=backoff_max,
                retry_after_cap=backoff_max,
            ),
            status_error=_status_error,
            transport_error=_transport_error,
            timeout=timeout,
            connect_timeout=connect_timeout,
            pool_size=10,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
        expected: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """The response of a 2xx, or of a status in `expected`; typed errors for the rest."""
        return await self._http.request(
            method, path, operation=operation, params=params, json=json, accept=expected
        )

    # --- JSON and paging --------------------------------------------------------------------

    async def get_json(
        self,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """The JSON body of a GET; None for a 404 when `missing_ok` (the resource is gone)."""
        expected = frozenset({404}) if missing_ok else frozenset()
        response = await self.request(
            "GET", path, operation=operation, params=params, expected=expected
        )
        if response.status_code == 404:
            return None
        return decode(response, operation)

    async def pages(
        self,
        path: str,
        *,
        operation: str,
        page_size: int,
        params: Mapping[str, str | int] | None = None,
        missing_ok: bool = False,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every result of a listmonk listing, fetching one page at a time, to the end.

        With `missing_ok`, a listing whose resource is gone (404) has no results.
        """

        async def fetch(page: int) -> tuple[list[dict[str, Any]], int] | None:
            query = {**(params or {}), "page": page, "per_page": page_size}
            document = await self.get_json(
                path, operation=operation, params=query, missing_ok=missing_ok
            )
            return None if document is None else page_of(document)

        async for results in numbered_pages(fetch):
            for result in results:
                yield result

    async def total(
        self,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        missing_ok: bool = False,
    ) -> int:
        """How many results a listing has, fetching a single one (0 if gone and `missing_ok`)."""
        query = {**(params or {}), "page": 1, "per_page": 1}
        document = await self.get_json(
            path, operation=operation, params=query, missing_ok=missing_ok
        )
        if document is None:
            return 0
        return page_of(document)[1]


def decode(response: httpx.Response, operation: str) -> Any:
    """The response's JSON body, or PermanentError (the body itself is never quoted)."""
    try:
        return response.json()
    except ValueError:
        raise PermanentError(
            f"newsletter API answered {operation} with something other than JSON"
        ) from None


def page_of(document: Any) -> tuple[list[dict[str, Any]], int]:
    """Results and total of listmonk's envelope `{"data": {"results": [...], "total": n}}`."""
    try:
        data = document["data"]
        results = data["results"]
        total = int(data["total"])
    except (KeyError, TypeError, ValueError):
        raise PermanentError("newsletter API answered with an unexpected page document") from None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise PermanentError("newsletter API answered with an unexpected page document")
    return results, total
