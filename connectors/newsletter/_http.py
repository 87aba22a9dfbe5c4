"""The HTTP side of the newsletter connector: listmonk's API with timeouts, retries and paging.

Every request has an explicit timeout. Outages (connection refused or reset, timeouts) and
502/503/504/500 are retried with exponential backoff and jitter; 429 waits as long as Retry-After
says. No single wait is longer than `backoff_max`: a longer Retry-After, or retries running out,
raises RateLimited / SystemUnavailable at once, so Temporal retries the activity later instead
of the worker sleeping on it. 401/403 is AuthenticationError; other 4xx are PermanentError unless
the caller expects them (404 "not found" is an answer, not a failure).

Error messages name the operation, the HTTP status and the exception class only: URLs carry
addresses in their query string, and response bodies may quote what was sent. Every typed error
is raised `from None`. httpx logs each request's URL at INFO; `_RedactQueries` strips the query
string from those records before any handler sees them.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
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

__all__ = ["ListmonkClient"]

log = logging.getLogger("connectors.newsletter")

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class _RedactQueries(logging.Filter):
    """Removes query strings from URLs in httpx's request log lines (they hold addresses)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        return True


def _without_query(value: object) -> object:
    if isinstance(value, httpx.URL) and value.query:
        return value.copy_with(query=None).copy_add_param("query", "redacted")
    if isinstance(value, str) and "?" in value and "://" in value:
        return value.split("?", 1)[0] + "?redacted"
    return value


_REDACT = _RedactQueries()


def _protect_http_logs() -> None:
    # httpx logs every request with its URL; httpcore's DEBUG lines name only host and port.
    logger = logging.getLogger("httpx")
    if _REDACT not in logger.filters:
        logger.addFilter(_REDACT)


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
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError):
            raise ConfigurationError("newsletter base URL is not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError("newsletter base URL must be an http(s) URL with a host")
        if not api_user or not api_token:
            raise ConfigurationError("newsletter API user and token must not be empty")
        _protect_http_logs()
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._http = httpx.AsyncClient(
            base_url=url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={
                "Authorization": f"token {api_user}:{api_token}",
                "Accept": "application/json",
                "User-Agent": "dsr-orchestrator newsletter connector",
            },
            follow_redirects=False,
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- requests ---------------------------------------------------------------------------

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
        attempt = 0
        while True:
            outcome, asked = await self._attempt(method, path, operation, params, json, expected)
            if isinstance(outcome, httpx.Response):
                return outcome
            failure = outcome
            wait = asked if asked is not None else self._backoff(attempt)
            if attempt >= self._max_retries or wait > self._backoff_max:
                raise failure
            attempt += 1
            log.info(
                "newsletter %s: %s, retry %d of %d in %.2fs",
                operation,
                type(failure).__name__,
                attempt,
                self._max_retries,
                wait,
            )
            await asyncio.sleep(wait)

    async def _attempt(
        self,
        method: str,
        path: str,
        operation: str,
        params: Mapping[str, str | int] | None,
        json: object,
        expected: frozenset[int],
    ) -> tuple[httpx.Response | ConnectorError, float | None]:
        """One request: the response, or the retryable error and the wait the server asked for
        (None: back off exponentially)."""
        try:
            response = await self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            error: ConnectorError = SystemUnavailable(
                f"newsletter API timed out during {operation} ({type(exc).__name__})"
            )
            return error, None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise ConfigurationError("newsletter base URL cannot be used") from None
        except httpx.TransportError as exc:  # refused, reset, DNS, protocol errors
            error = SystemUnavailable(
                f"newsletter API unreachable during {operation} ({type(exc).__name__})"
            )
            return error, None
        status = response.status_code
        if status < 300 or status in expected:
            return response, None
        await response.aclose()
        if status in (401, 403):
            raise AuthenticationError(f"newsletter API rejected the credentials (HTTP {status})")
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if status == 429:
            error = RateLimited(
                f"newsletter API rate limit reached during {operation} (HTTP 429)", retry_after
            )
            return error, retry_after
        if status in _RETRYABLE_STATUS:
            error = SystemUnavailable(
                f"newsletter API unavailable during {operation} (HTTP {status})"
            )
            return error, retry_after
        raise PermanentError(f"newsletter API refused {operation} (HTTP {status})")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half to all of base * 2**attempt, capped."""
        return min(self._backoff_max, self._backoff_base * 2.0**attempt) * _jitter()

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
        page, seen = 1, 0
        while True:
            query = {**(params or {}), "page": page, "per_page": page_size}
            document = await self.get_json(
                path, operation=operation, params=query, missing_ok=missing_ok
            )
            if document is None:
                return
            results, total = page_of(document)
            for result in results:
                yield result
            seen += len(results)
            if not results or seen >= total:
                return
            page += 1

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


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
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
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _jitter() -> float:
    return 0.5 + random.random() / 2  # noqa: S311 - spreading retries, not a secret
