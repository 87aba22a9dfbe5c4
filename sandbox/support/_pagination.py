"""Zendesk cursor pagination: `page[size]` (at most 100) and `page[after]`, answered with
`meta.has_more`, `meta.after_cursor` and `links.next`.

The cursor is the opaque, URL-safe encoding of the last id on the page; every list is ordered by
id, so the next page is `id > cursor` on a (filter, id) index: no offsets, no scans, and rows
deleted while a client pages through (an erasure in progress) never make it skip any.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, Select

from sandbox.support._errors import ApiError

__all__ = [
    "MAX_PAGE_SIZE",
    "Page",
    "PageParams",
    "decode_cursor",
    "encode_cursor",
    "page",
    "page_body",
    "paged",
]

MAX_PAGE_SIZE = 100


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id" or not value.isdigit():
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "InvalidPaginationParameter", "page[after] is not a cursor") from None


@dataclass(frozen=True)
class Page:
    size: int
    after: int | None


async def page(
    size: Annotated[int, Query(alias="page[size]")] = MAX_PAGE_SIZE,
    after: Annotated[str | None, Query(alias="page[after]")] = None,
) -> Page:
    """The page parameters of a request (a FastAPI dependency)."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(
            400, "InvalidPaginationParameter", f"page[size] must be between 1 and {MAX_PAGE_SIZE}"
        )
    return Page(size, decode_cursor(after) if after else None)


def paged(statement: Select[Any], id_column: ColumnElement[int], params: Page) -> Select[Any]:
    """One page and one row more (to know whether there is a next page), in id order."""
    if params.after is not None:
        statement = statement.where(id_column > params.after)
    return statement.order_by(id_column).limit(params.size + 1)


def page_body(
    request: Request,
    key: str,
    items: Sequence[dict[str, Any]],
    params: Page,
    ids: Sequence[int],
    *,
    count: bool = False,
) -> JSONResponse:
    """The response: the page's items under `key`, with Zendesk's `meta` and `links` (and the
    `count` of items on the page, as search results have it)."""
    has_more = len(items) > params.size
    items = items[: params.size]
    ids = ids[: params.size]
    after = encode_cursor(ids[-1]) if ids else None
    before = encode_cursor(ids[0]) if ids else None
    next_url = None
    if has_more and after is not None:
        next_url = str(request.url.include_query_params(**{"page[after]": after}))
    body: dict[str, Any] = {
        key: list(items),
        "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
        "links": {"next": next_url, "prev": None},
    }
    if count:
        body["count"] = len(items)
    return JSONResponse(body)


# A route parameter `params: PageParams` receives the request's page parameters.
PageParams = Annotated[Page, Depends(page)]
