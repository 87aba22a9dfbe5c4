"""The HTTP side of the newsletter connector: listmonk's API on the shared `HttpClient`.

Timeouts, retries (`connectors.base.retry`: stamina in the call, Temporal beyond it),
Retry-After, the status→error table (`connectors.base.http_errors`, no override needed: listmonk
answers like any JSON API) and quiet httpx logs come from `connectors.base`. What stays here is
particular to listmonk: `token user:token` auth, the meaning of its answers, and its
page-numbered listings (`{"data": {"results": [...], "total": n}}`). 404 "not found" is an
answer where the caller expects it, not a failure. Error messages name the operation, the HTTP
status and the exception class only: URLs carry addresses in their query string, and response
bodies may quote what was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from connectors.base import ConfigurationError, PermanentError
from connectors.base.http import HttpClient, numbered_pages
from connectors.base.retry import RetryPolicy

__all__ = ["ListmonkClient"]


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
        retry: RetryPolicy | None = None,
    ) -> None:
        if not api_user or not api_token:
            raise ConfigurationError("newsletter API user and token must not be empty")
        self._http = HttpClient(
            base_url,
            system="newsletter",
            authorization=f"token {api_user}:{api_token}",
            retry=retry or RetryPolicy(),
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
