"""The help desk's REST API as the connector uses it: one request with timeouts, bounded retries
and backoff, and cursor pagination to the end.

Retries: outages (refused or reset connections, timeouts) and 408/425/429/5xx are retried up to
`max_retries` times with exponential backoff and jitter; a `Retry-After` header (429, 503) is
honoured instead of the backoff, unless it is longer than `max_retry_after`: then the connector
gives up at once with RateLimited(retry_after), so the workflow engine retries the whole activity
later instead of a worker sleeping for minutes. When retries run out the last error is raised:
RateLimited (with the server's retry_after) or SystemUnavailable. Everything else (401, 403, other
4xx) fails at once as a permanent typed error. Every request the connector makes is idempotent
(GET, PUT of values, DELETE, redaction of a given text), so a retry never does anything twice.

Nothing here logs or raises a URL, a query string or a response body: they hold personal data.
Endpoints are named by a fixed label ("users.search") in messages instead.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.base import ConfigurationError, ConnectorError, PermanentError
from connectors.support._errors import RETRYABLE_STATUSES, for_status, for_transport

__all__ = ["SupportApi", "protect_client_logs"]

log = logging.getLogger("connectors.support")

Json = dict[str, Any]


class _NoClientDebug(logging.Filter):
    """Drops httpx's and httpcore's INFO/DEBUG records: httpx logs every request line with its
    URL (`/users/search?query=email:…` is an e-mail address in a log), whatever the
    application's log level is meant to allow."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


_CLIENT_FILTER = _NoClientDebug()
_CLIENT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def protect_client_logs() -> None:
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if _CLIENT_FILTER not in logger.filters:
            logger.addFilter(_CLIENT_FILTER)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class SupportApi:
    """An authenticated client of the help desk API (one connection pool per connector)."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout: float,
        connect_timeout: float,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        max_retry_after: float,
        page_size: int,
        pool_size: int = 10,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        protect_client_logs()
        try:
            self._client = httpx.AsyncClient(
                base_url=base_url.rstrip("/"),
                headers={
                    "Authorization": f"Bearer {api_token}",
                    "Accept": "application/json",
                    "User-Agent": "dsr-connector-support",
                },
                timeout=httpx.Timeout(timeout, connect=connect_timeout),
                limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
                follow_redirects=False,
            )
        except (httpx.InvalidURL, ValueError, TypeError):
            raise ConfigurationError("support base URL is not a usable URL") from None
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.page_size = page_size
        self._sleep = sleep

    async def aclose(self) -> None:
        await self._client.aclose()

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the step fixed, half random."""
        step = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret

    async def call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        json: Json | None = None,
        missing_ok: bool = False,
    ) -> Json | None:
        """One request, retried as the module doc says. Returns the JSON body ({} for 204), or
        None for a 404 when `missing_ok` (a record that is not there is a result)."""
        attempt = 0
        while True:
            error: ConnectorError
            delay: float | None = None
            try:
                response = await self._client.request(method, path, params=params, json=json)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL):
                raise ConfigurationError("support base URL is not a usable URL") from None
            except httpx.TransportError as exc:  # timeouts, refused, reset, DNS, protocol
                error = for_transport(exc, operation, endpoint)
                reason = type(exc).__name__
            else:
                status = response.status_code
                if status < 300:
                    return self._body(response, operation, endpoint)
                if status == 404 and missing_ok:
                    return None
                if 300 <= status < 400:
                    raise ConfigurationError(
                        f"support API {endpoint} redirects (HTTP {status}): check the base URL"
                    )
                retry_after = _retry_after(response)
                error = for_status(status, operation, endpoint, retry_after)
                if status not in RETRYABLE_STATUSES:
                    raise error from None
                if retry_after is not None:
                    if retry_after > self.max_retry_after:
                        raise error from None  # too long to wait here: let the workflow retry
                    delay = retry_after
                reason = f"HTTP {status}"
            if attempt >= self.max_retries:
                raise error from None
            wait = self._backoff(attempt) if delay is None else delay
            attempt += 1
            log.warning(
                "support API %s during %s: %s; retry %d of %d in %.2f s",
                endpoint,
                operation,
                reason,
                attempt,
                self.max_retries,
                wait,
            )
            await self._sleep(wait)

    @staticmethod
    def _body(response: httpx.Response, operation: str, endpoint: str) -> Json:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PermanentError(
                f"support API {endpoint} answered {operation} with a body that is not JSON"
            ) from None
        return body

    async def pages(
        self,
        path: str,
        key: str,
        *,
        endpoint: str,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        missing_ok: bool = False,
    ) -> AsyncIterator[list[Json]]:
        """Every page of a cursor-paginated list, to the end, one page at a time."""
        query: dict[str, str | int] = {**(params or {}), "page[size]": self.page_size}
        previous: str | None = None
        while True:
            body = await self.call(
                "GET",
                path,
                endpoint=endpoint,
                operation=operation,
                params=query,
                missing_ok=missing_ok,
            )
            if body is None:
                return
            items = body.get(key)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise PermanentError(f"support API {endpoint} answered without a {key} list")
            if items:
                yield items
            meta = body.get("meta")
            if not isinstance(meta, dict) or not meta.get("has_more"):
                return
            cursor = meta.get("after_cursor")
            if not isinstance(cursor, str) or not cursor or cursor == previous:
                raise PermanentError(f"support API {endpoint} answered with a broken page cursor")
            previous = cursor
            query["page[after]"] = cursor
