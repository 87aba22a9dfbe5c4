"""The registrar admin API over HTTP: the shared `HttpClient`, configured for the registrar.

Timeouts, retries (`connectors.base.retry`), Retry-After, the status→error table and quiet httpx
logs come from `connectors.base`; what stays here is particular to the registrar's admin API:
bearer-token auth, answers validated into pydantic models, and its cursor paging
(`{"items": [...], "next_cursor": ..., "total": n}`, the cursor and limit sent in the query of a
GET or the body of a POST search). Lists are handed out one item at a time (never a whole result
set in memory).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connectors.base import ConfigurationError
from connectors.base.http import HttpClient, cursor_pages
from connectors.base.retry import RetryPolicy
from connectors.registrar._api import Page
from connectors.registrar._errors import unexpected_response

__all__ = ["RegistrarClient"]

M = TypeVar("M", bound=BaseModel)

_MAX_PAGES = 100_000  # a platform that never stops paging is a bug, not a big subject


class RegistrarClient:
    """One connection pool to the platform; `request` and `pages` do the retrying."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout: float,
        connect_timeout: float | None = None,
        retry: RetryPolicy,
        page_size: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_token:
            raise ConfigurationError("registrar API token is empty")
        self.page_size = page_size
        self._http = HttpClient(
            base_url,
            system="registrar",
            authorization=f"Bearer {api_token}",
            retry=retry,
            timeout=timeout,
            connect_timeout=connect_timeout,
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
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        allow: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """The response to one call (2xx, or a status in `allow`), retrying what is retryable.

        A redirect is never followed and never handed back: it is a ConfigurationError (a 3xx
        handed back would pass for success, e.g. a DELETE counted as a deletion)."""
        return await self._http.request(
            method, path, operation=operation, params=params, json=body, accept=allow
        )

    async def model(
        self,
        model: type[M],
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        allow_missing: bool = False,
    ) -> M | None:
        """One call parsed into `model`; None for 404 when `allow_missing`."""
        response = await self.request(
            method,
            path,
            operation=operation,
            params=params,
            body=body,
            allow=frozenset({404}) if allow_missing else frozenset(),
        )
        if response.status_code == 404:
            return None
        return _parse(model, response, operation)

    async def pages(
        self,
        item: type[M],
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[M]:
        """Every item of a paged list, fetched page by page to the end."""

        async def fetch(cursor: str | None) -> tuple[list[M], str | None]:
            paging = {
                "limit": page_size or self.page_size,
                **({"cursor": cursor} if cursor else {}),
            }
            response = await self.request(
                method,
                path,
                operation=operation,
                params={**(params or {}), **paging} if method == "GET" else params,
                body={**(body or {}), **paging} if method != "GET" else body,
            )
            page = _parse(_page_of(item), response, operation)
            return page.items, page.next_cursor or None

        async for items in cursor_pages(
            fetch, stuck=lambda: unexpected_response(operation), max_pages=_MAX_PAGES
        ):
            for entry in items:
                yield entry

    async def total(
        self, path: str, *, operation: str, params: Mapping[str, Any] | None = None
    ) -> int:
        """The `total` of a paged list, reading a single item of it."""
        response = await self.request(
            "GET", path, operation=operation, params={**(params or {}), "limit": 1}
        )
        page = _parse(Page[dict[str, Any]], response, operation)
        if page.total is None:
            raise unexpected_response(operation)
        return page.total


@functools.cache
def _page_of(item: type[M]) -> type[Page[M]]:
    """`Page[item]`, made once per item type: pydantic's generic lookup on every page was 1.7 %
    of the worker's CPU in the e2e profile."""
    return Page[item]  # type: ignore[valid-type]  # a runtime generic of a type variable


def _parse(model: type[M], response: httpx.Response, operation: str) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError:  # its message quotes the response: personal data
        raise unexpected_response(operation) from None
