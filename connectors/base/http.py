"""One HTTP client for every connector that talks to a JSON API over HTTP.

Why it exists: each HTTP connector needs the same plumbing (explicit timeouts, bounded retries
with backoff and jitter, Retry-After honoured up to a cap, paging to the end, and httpx's logs
kept free of URLs), and each one written on its own got some corner of it slightly wrong. The
plumbing lives here once; a connector configures it and says only what is particular to its
system:

- `HttpClient(base_url, system=..., authorization=..., retry=RetryPolicy(...), ...)`: one
  connection pool. `request` returns the response of a 2xx (or of a status the caller accepts,
  such as 404 "not found"); every other outcome is a typed connector error, raised `from None`
  so the original (whose message quotes the URL) is never chained into logs or Temporal.
- What a failure *means* is the shared table of `connectors.base.http_errors` (a system that
  really differs passes `status_errors`, its overrides, as data). What to *do* about it is
  `connectors.base.retry`'s: stamina retries a retryable error briefly in the call; retries
  running out, or a Retry-After over the cap, raise it so Temporal retries the activity later.
- `HttpSettings`: the settings every HTTP connector shares (timeouts and the `retry_*` ones),
  which its own settings class extends with its prefix, URL and credentials.
- `cursor_pages` and `numbered_pages`: the two paging loops, to the end, one page in memory, with
  the guard against an API that hands out the same cursor again.
- `protect_http_logs`: httpx logs every request line with its URL, and a URL holds personal data
  (an e-mail address in a search query, a domain name in a path). The filter keeps the line
  (method, host, status) and withholds the path and query; httpcore's debug traces (they hold
  response headers) are dropped. Logging filters are process-wide, so one filter serves every
  connector in a worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import Field

from connectors.base._errors import ConfigurationError, ConnectorError
from connectors.base.http_errors import ErrorRule, HttpErrors, parse_retry_after
from connectors.base.retry import RetryPolicy, RetrySettings, retrying

__all__ = [
    "ErrorRule",
    "HttpClient",
    "HttpErrors",
    "HttpSettings",
    "RetryPolicy",
    "cursor_pages",
    "numbered_pages",
    "parse_retry_after",
    "protect_http_logs",
]

_P = TypeVar("_P")
_C = TypeVar("_C")


# --- settings -----------------------------------------------------------------------------


class HttpSettings(RetrySettings):
    """Timeouts and retries, the same names for every HTTP connector (`DSR_<NAME>_TIMEOUT`,
    `_CONNECT_TIMEOUT`, `_RETRY_*`); a connector's settings class adds its `env_prefix`, URL,
    credentials and paging, and may change a default by redeclaring the field."""

    # Seconds one HTTP call may take to read, write or get a pooled connection.
    timeout: float = Field(default=10.0, gt=0, le=600)
    # Seconds to establish a connection: short, so an outage is noticed quickly.
    connect_timeout: float = Field(default=5.0, gt=0, le=120)


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
    `status_errors` are the system's overrides of the shared status table (data, see
    `connectors.base.http_errors`). `connect_timeout` defaults to `timeout`; `pool_size` to
    httpx's limits. Redirects are never followed: they would resend the credentials elsewhere.
    """

    def __init__(
        self,
        base_url: str,
        *,
        system: str,
        authorization: str,
        retry: RetryPolicy,
        timeout: float,
        connect_timeout: float | None = None,
        status_errors: Mapping[int, ErrorRule] | None = None,
        pool_size: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
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
        self.errors = HttpErrors(system, dict(status_errors or {}))
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
        """The response of a 2xx or of a status in `accept`, retried as `self.retry` says.

        `path` is relative to the base URL. `operation` (and `endpoint`, a fixed label of the
        call) name the call in errors and logs: never the URL, which may hold personal data.
        """

        async def once() -> httpx.Response:
            try:
                response = await self._http.request(method, path, params=params, json=json)
            except httpx.HTTPError as exc:
                raise self.errors.for_transport(
                    exc, operation=operation, endpoint=endpoint
                ) from None
            if response.is_success or response.status_code in accept:
                return response
            raise self.errors.for_response(response, operation=operation, endpoint=endpoint)

        where = f"{self.system} {f'{endpoint} during {operation}' if endpoint else operation}"
        return await retrying(self.retry, once, where=where, log=self._log)


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
