"""The help desk's REST API as the connector uses it: the shared `HttpClient`, configured for the
desk, and its cursor pagination to the end.

Timeouts, retries with backoff, Retry-After and quiet httpx logs come from
`connectors.base.http`. Retries: outages (refused or reset connections, timeouts) and
408/425/429/5xx are retried up to `max_retries` times with exponential backoff and jitter; a
`Retry-After` header (429, 503) is honoured instead of the backoff, unless it is longer than
`max_retry_after`: then the connector gives up at once with RateLimited(retry_after), so the
workflow engine retries the whole activity later instead of a worker sleeping for minutes. When
retries run out the last error is raised: RateLimited (with the server's retry_after) or
SystemUnavailable. Everything else (401, 403, other 4xx) fails at once as a permanent typed error.
Every request the connector makes is idempotent (GET, PUT of values, DELETE, redaction of a given
text), so a retry never does anything twice.

Nothing here logs or raises a URL, a query string or a response body: they hold personal data.
Endpoints are named by a fixed label ("users.search") in messages instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx

from connectors.base import ConfigurationError, ConnectorError, PermanentError
from connectors.base.http import HttpClient, RetryPolicy, cursor_pages
from connectors.support._errors import RETRYABLE_STATUSES, for_status, for_transport

__all__ = ["SupportApi"]

Json = dict[str, Any]


def _status_error(
    status: int, *, operation: str, endpoint: str, retry_after: float | None
) -> ConnectorError:
    if 300 <= status < 400:
        return ConfigurationError(
            f"support API {endpoint} redirects (HTTP {status}): check the base URL"
        )
    return for_status(status, operation, endpoint, retry_after)


def _transport_error(
    exc: httpx.HTTPError, *, operation: str, endpoint: str
) -> ConnectorError | None:
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigurationError("support base URL is not a usable URL")
    if isinstance(exc, httpx.TransportError):  # timeouts, refused, reset, DNS, protocol
        return for_transport(exc, operation, endpoint)
    return None


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
        self.page_size = page_size
        self._http = HttpClient(
            base_url,
            system="support",
            authorization=f"Bearer {api_token}",
            retry=RetryPolicy(
                max_retries=max_retries,
                backoff_initial=backoff_base,
                backoff_max=backoff_max,
                retry_after_cap=max_retry_after,
            ),
            status_error=_status_error,
            transport_error=_transport_error,
            # A 501 or 505 is a SystemUnavailable for the workflow, but not retried here.
            retry_statuses=RETRYABLE_STATUSES,
            timeout=timeout,
            connect_timeout=connect_timeout,
            pool_size=pool_size,
            sleep=sleep,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

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
        response = await self._http.request(
            method,
            path,
            operation=operation,
            endpoint=endpoint,
            params=params,
            json=json,
            accept=frozenset({404}) if missing_ok else frozenset(),
        )
        if response.status_code == 404:
            return None
        return self._body(response, operation, endpoint)

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

        def broken() -> PermanentError:
            return PermanentError(f"support API {endpoint} answered with a broken page cursor")

        async def fetch(cursor: str | None) -> tuple[tuple[list[Json], bool], str | None] | None:
            """One page, whether its cursor is usable, and the next page's cursor."""
            query: dict[str, str | int] = {**(params or {}), "page[size]": self.page_size}
            if cursor is not None:
                query["page[after]"] = cursor
            body = await self.call(
                "GET",
                path,
                endpoint=endpoint,
                operation=operation,
                params=query,
                missing_ok=missing_ok,
            )
            if body is None:
                return None
            items = body.get(key)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise PermanentError(f"support API {endpoint} answered without a {key} list")
            meta = body.get("meta")
            if not isinstance(meta, dict) or not meta.get("has_more"):
                return (items, True), None
            following = meta.get("after_cursor")
            if not isinstance(following, str) or not following:
                return (items, False), None
            return (items, True), following

        async for items, cursor_ok in cursor_pages(fetch, stuck=broken):
            if items:
                yield items
            if not cursor_ok:  # raised after the page it came with, which is good
                raise broken()
