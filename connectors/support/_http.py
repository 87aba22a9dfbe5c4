"""The help desk's REST API as the connector uses it: the shared `HttpClient`, configured for the
desk, and its cursor pagination to the end.

Timeouts, retries (`connectors.base.retry`: stamina in the call, Temporal beyond it),
Retry-After, the status→error table (`connectors.base.http_errors`, with the desk's one
override from `_errors`) and quiet httpx logs come from `connectors.base`. A Retry-After (429,
503) longer than `retry_after_cap` is not waited out by a worker: RateLimited(retry_after) goes
up at once and Temporal retries the activity when the desk asked. Every request the connector
makes is idempotent (GET, PUT of values, DELETE, redaction of a given text), so a retry never
does anything twice.

Nothing here logs or raises a URL, a query string or a response body: they hold personal data.
Endpoints are named by a fixed label ("users.search") in messages instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from connectors.base import PermanentError
from connectors.base.http import HttpClient, cursor_pages
from connectors.base.retry import RetryPolicy
from connectors.support._errors import STATUS_ERRORS

__all__ = ["SupportApi"]

Json = dict[str, Any]


class SupportApi:
    """An authenticated client of the help desk API (one connection pool per connector)."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout: float,
        connect_timeout: float,
        retry: RetryPolicy,
        page_size: int,
        pool_size: int = 10,
    ) -> None:
        self.page_size = page_size
        self._http = HttpClient(
            base_url,
            system="support",
            authorization=f"Bearer {api_token}",
            retry=retry,
            status_errors=STATUS_ERRORS,
            timeout=timeout,
            connect_timeout=connect_timeout,
            pool_size=pool_size,
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
