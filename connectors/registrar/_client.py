"""The registrar admin API over HTTP: timeouts, retries with backoff, pages, typed errors.

Every call has an explicit timeout. Retryable failures (no answer, 5xx, 429) are retried with
exponential backoff and jitter, honouring Retry-After up to a cap; when attempts run out, or the
platform asks for a longer pause than the cap, the typed retryable error is raised so Temporal
retries the activity later. Everything else fails at once. Lists are read page by page to the
end, and handed out one item at a time (never a whole result set in memory).

httpx logs every request line at INFO, URL included (a domain name is personal data): the
`_RequestLineFilter` drops those lines; this client logs what it did without them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connectors.base import ConfigurationError, ConnectorError, SystemUnavailable
from connectors.registrar._api import Page
from connectors.registrar._errors import (
    RETRYABLE_STATUSES,
    parse_retry_after,
    status_error,
    transport_error,
    unexpected_response,
)

__all__ = ["RegistrarClient"]

log = logging.getLogger("connectors.registrar")

M = TypeVar("M", bound=BaseModel)

_MAX_BACKOFF = 10.0  # seconds: a single pause between attempts never exceeds this
_MAX_PAGES = 100_000  # a platform that never stops paging is a bug, not a big subject


class _RequestLineFilter(logging.Filter):
    """Drops httpx's request lines: they print the URL, and a URL can hold a domain name.
    (httpcore's DEBUG traces name only the method, host and port, never the path or body.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("HTTP Request")


_FILTER = _RequestLineFilter()


def _protect_http_logs() -> None:
    logger = logging.getLogger("httpx")  # the logger httpx logs request lines on
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


class RegistrarClient:
    """One connection pool to the platform; `request` and `pages` do the retrying."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout: float,
        max_attempts: int,
        backoff: float,
        max_retry_after: float,
        page_size: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError("registrar base URL must be an http(s) URL")
        if not api_token:
            raise ConfigurationError("registrar API token is empty")
        if max_attempts < 1:
            raise ConfigurationError("registrar max_attempts must be at least 1")
        _protect_http_logs()
        self._timeout = httpx.Timeout(timeout)
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_retry_after = max_retry_after
        self.page_size = page_size
        try:
            self._http = httpx.AsyncClient(
                base_url=base_url.rstrip("/"),
                headers={"Authorization": f"Bearer {api_token}", "Accept": "application/json"},
                timeout=self._timeout,
                follow_redirects=False,  # a redirect would resend the token elsewhere
                transport=transport,
            )
        except (httpx.InvalidURL, ValueError):
            raise ConfigurationError("registrar base URL is not a valid URL") from None

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
        """The response to one call (2xx, or a status in `allow`), retrying what is retryable."""
        failure: ConnectorError | None = None
        for attempt in range(1, self._max_attempts + 1):
            wait = self._pause(attempt)
            try:
                response = await self._http.request(
                    method, path, params=params, json=body, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                failure = transport_error(exc, operation)
                if not failure.retryable:
                    raise failure from None
            else:
                status = response.status_code
                if status < 400 or status in allow:
                    return response
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                failure = status_error(status, operation, retry_after)
                if status not in RETRYABLE_STATUSES:
                    raise failure
                if retry_after is not None:
                    if retry_after > self._max_retry_after:
                        log.warning(
                            "registrar %s: asked to wait %.0fs, more than the %.0fs cap",
                            operation,
                            retry_after,
                            self._max_retry_after,
                        )
                        raise failure  # RateLimited (429) or SystemUnavailable (503)
                    wait = retry_after
            if attempt < self._max_attempts:
                log.info(
                    "registrar %s: attempt %d failed (%s), retrying in %.2fs",
                    operation,
                    attempt,
                    type(failure).__name__,
                    wait,
                )
                await asyncio.sleep(wait)
        log.warning("registrar %s: giving up after %d attempts", operation, self._max_attempts)
        if failure is None:  # unreachable: max_attempts >= 1, and every attempt returns or fails
            failure = SystemUnavailable(f"registrar made no attempt at {operation}")
        raise failure

    def _pause(self, attempt: int) -> float:
        """Exponential backoff with jitter, so many workers do not retry in lockstep."""
        ceiling = min(_MAX_BACKOFF, self._backoff * 2.0 ** (attempt - 1))
        jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
        return ceiling * jitter

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
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
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
            page = _parse(Page[item], response, operation)  # type: ignore[valid-type]  # runtime generic
            for entry in page.items:
                yield entry
            if not page.next_cursor:
                return
            if page.next_cursor == cursor:
                raise unexpected_response(operation)  # the same page again: it would never end
            cursor = page.next_cursor
        raise unexpected_response(operation)

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


def _parse(model: type[M], response: httpx.Response, operation: str) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError:  # its message quotes the response: personal data
        raise unexpected_response(operation) from None
