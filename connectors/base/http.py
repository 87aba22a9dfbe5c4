"""One HTTP client for every connector that talks to a JSON API over HTTP.

Why it exists: each HTTP connector needs the same plumbing (explicit timeouts, bounded retries
with capped exponential backoff and jitter, Retry-After honoured up to a cap, paging to the end,
and httpx's logs kept free of URLs), and each one written on its own got some corner of it
slightly wrong. The plumbing lives here once; a connector configures it and says only what is
particular to its system:

- `HttpClient(base_url, system=..., authorization=..., retry=RetryPolicy(...), ...)`: one
  connection pool. `request` retries what is worth retrying and returns the response of a 2xx
  (or of a status the caller accepts, such as 404 "not found"); every other outcome is a typed
  connector error, raised `from None` so the original (whose message quotes the URL) is never
  chained into logs or Temporal failures.
- What a failure *means* stays the connector's: it passes `status_error` and `transport_error`
  (usually from its `_errors` module), which name the system's failures in its own words without
  personal data. What to *do* about it is decided here: a retryable error is retried while the
  `RetryPolicy` allows; a Retry-After longer than `retry_after_cap`, or retries running out,
  raises it at once so Temporal retries the whole activity later instead of a worker sleeping.
- `cursor_pages` and `numbered_pages`: the two paging loops, to the end, one page in memory, with
  the guard against an API that hands out the same cursor again.
- `protect_http_logs`: httpx logs every request line with its URL, and a URL holds personal data
  (an e-mail address in a search query, a domain name in a path). The filter keeps the line
  (method, host, status) and withholds the path and query; httpcore's debug traces (they hold
  response headers) are dropped. Logging filters are process-wide, so one filter serves every
  connector in a worker.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx

from connectors.base._errors import ConfigurationError, ConnectorError

__all__ = [
    "HttpClient",
    "RetryPolicy",
    "StatusError",
    "TransportError",
    "cursor_pages",
    "numbered_pages",
    "parse_retry_after",
    "protect_http_logs",
]

_P = TypeVar("_P")
_C = TypeVar("_C")


# --- retries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a retryable failure before handing it to Temporal.

    `max_retries` counts the attempts after the first. Backoff doubles from `backoff_initial`
    up to `backoff_max`, with jitter so many workers retrying after one outage do not hit the
    system together. A Retry-After is waited out instead of the backoff, unless it is longer
    than `retry_after_cap`: then the error goes up at once (Temporal is better at long waits).
    """

    max_retries: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    retry_after_cap: float = 30.0

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number `retry` (1, 2, ...), or None to give up now."""
        if retry > self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.retry_after_cap else None
        backoff = min(self.backoff_max, self.backoff_initial * 2 ** (retry - 1))
        return random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter, not a secret


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from a Retry-After header: delta-seconds or an HTTP date (RFC 9110
    10.2.3); None when absent or unreadable (the client's own backoff applies then)."""
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


class StatusError(Protocol):
    """The typed error for an HTTP status that is neither a success nor accepted by the call.
    `endpoint` is the call's fixed label ("" if the connector does not name endpoints)."""

    def __call__(
        self, status: int, *, operation: str, endpoint: str, retry_after: float | None
    ) -> ConnectorError: ...


class TransportError(Protocol):
    """The typed error for a request that got no answer (timeout, refused, reset, bad URL), or
    None to let `exc` through as it is (a failure the connector does not consider an outage)."""

    def __call__(
        self, exc: httpx.HTTPError, *, operation: str, endpoint: str
    ) -> ConnectorError | None: ...


# --- logs -----------------------------------------------------------------------------------


class _WithholdUrls(logging.Filter):
    """Keeps httpx's request lines without their path and query; drops httpcore's traces."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("httpcore"):
            return record.levelno > logging.INFO
        if isinstance(record.args, tuple):
            record.args = tuple(_origin_only(arg) for arg in record.args)
        return True


def _origin_only(value: object) -> object:
    if isinstance(value, str) and "://" in value:
        try:
            value = httpx.URL(value)
        except httpx.InvalidURL:
            return "<url withheld>"
    if isinstance(value, httpx.URL):
        port = f":{value.port}" if value.port is not None else ""
        return f"{value.scheme}://{value.host}{port}/<path withheld>"
    return value


_FILTER = _WithholdUrls()
_CLIENT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def protect_http_logs() -> None:
    """Install the filter on httpx's and httpcore's loggers (once; `HttpClient` does this)."""
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


# --- the client -----------------------------------------------------------------------------


class HttpClient:
    """One connection pool to one system's API, with the retrying `request`.

    `authorization` is the whole Authorization header value ("Bearer <token>", "token u:t").
    `retry_statuses`, if given, are the only statuses retried here; by default every status
    whose typed error is retryable is. `connect_timeout` defaults to `timeout`; `pool_size` to
    httpx's limits. Redirects are never followed: they would resend the credentials elsewhere.
    """

    def __init__(
        self,
        base_url: str,
        *,
        system: str,
        authorization: str,
        retry: RetryPolicy,
        status_error: StatusError,
        transport_error: TransportError,
        timeout: float,
        connect_timeout: float | None = None,
        retry_statuses: frozenset[int] | None = None,
        pool_size: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError):
            raise ConfigurationError(f"{system} base URL is not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            # Not echoed: a URL may hold credentials.
            raise ConfigurationError(f"{system} base URL must be an absolute http(s) URL")
        protect_http_logs()
        self.system = system
        self.host = url.host
        self.retry = retry
        self._status_error = status_error
        self._transport_error = transport_error
        self._retry_statuses = retry_statuses
        self._sleep = sleep
        self._log = logging.getLogger(f"connectors.{system}")
        # Without a pool size, httpx's own limits: 100 connections, 20 kept alive.
        connections, keepalive = (100, 20) if pool_size is None else (pool_size, pool_size)
        self._http = httpx.AsyncClient(
            base_url=url,
            headers={
                "Authorization": authorization,
                "Accept": "application/json",
                "User-Agent": f"dsr-connector-{system}",
            },
            timeout=httpx.Timeout(
                timeout, connect=timeout if connect_timeout is None else connect_timeout
            ),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=keepalive),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        endpoint: str = "",
        params: Mapping[str, Any] | None = None,
        json: object = None,
        accept: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """The response of a 2xx or of a status in `accept`, retrying what is worth retrying.

        `path` is relative to the base URL. `operation` (and `endpoint`, a fixed label of the
        call) name the call in errors and logs: never the URL, which may hold personal data.
        """
        where = f"{self.system} {f'{endpoint} during {operation}' if endpoint else operation}"
        retry = 0
        while True:
            retry_after: float | None = None
            try:
                response = await self._http.request(method, path, params=params, json=json)
            except httpx.HTTPError as exc:
                failure = self._transport_error(exc, operation=operation, endpoint=endpoint)
                if failure is None:
                    raise
                reason, worth_retrying = type(exc).__name__, failure.retryable
            else:
                status = response.status_code
                if response.is_success or status in accept:
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                failure = self._status_error(
                    status, operation=operation, endpoint=endpoint, retry_after=retry_after
                )
                reason = f"HTTP {status}"
                worth_retrying = (
                    failure.retryable
                    if self._retry_statuses is None
                    else status in self._retry_statuses
                )
            if not worth_retrying:
                raise failure from None
            retry += 1
            wait = self.retry.delay(retry, retry_after)
            if wait is None:
                self._give_up(where, reason, failure, retry, retry_after)
                raise failure from None
            self._log.warning(
                "%s (%s): %s, retry %d of %d in %.2f s",
                where,
                reason,
                type(failure).__name__,
                retry,
                self.retry.max_retries,
                wait,
            )
            await self._sleep(wait)

    def _give_up(
        self,
        where: str,
        reason: str,
        failure: ConnectorError,
        retry: int,
        retry_after: float | None,
    ) -> None:
        if retry > self.retry.max_retries:
            why = f"giving up after {retry} attempts"
        else:
            cap = self.retry.retry_after_cap
            why = f"asked to wait {retry_after or 0:.0f} s, more than the {cap:.0f} s cap"
        self._log.warning("%s (%s): %s, %s", where, reason, type(failure).__name__, why)


# --- paging ---------------------------------------------------------------------------------


async def cursor_pages(
    fetch: Callable[[_C | None], Awaitable[tuple[_P, _C | None] | None]],
    *,
    stuck: Callable[[], ConnectorError],
    max_pages: int | None = None,
) -> AsyncIterator[_P]:
    """Every page of a cursor-paginated listing, to the end, one page at a time.

    `fetch(cursor)` reads one page (None: the first) and returns it with the cursor of the
    next page (None: it was the last), or returns None when the listing is not there at all.
    A cursor handed out twice in a row would never end, and neither would more than
    `max_pages` pages: both raise `stuck()`.
    """
    cursor: _C | None = None
    fetched = 0
    while True:
        got = await fetch(cursor)
        if got is None:
            return
        page, following = got
        fetched += 1
        yield page
        if following is None:
            return
        if following == cursor or (max_pages is not None and fetched >= max_pages):
            raise stuck()
        cursor = following


async def numbered_pages(
    fetch: Callable[[int], Awaitable[tuple[list[_P], int] | None]],
) -> AsyncIterator[list[_P]]:
    """Every page of a listing numbered from 1, to the end, one page at a time.

    `fetch(number)` returns the page's items and the listing's total, or None when the listing
    is not there at all. It ends at the first empty page or once `total` items were read.
    """
    number, seen = 1, 0
    while True:
        got = await fetch(number)
        if got is None:
            return
        items, total = got
        yield items
        seen += len(items)
        if not items or seen >= total:
            return
        number += 1
