"""listmonk's pagination: `page` (from 1) and `per_page`, and its response envelope.

    {"data": {"results": [...], "total": 1234, "per_page": 20, "page": 1}}

`per_page=all` is refused: at a million subscribers one response with everything is exactly what
a client must never ask for, so the sandbox makes it page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request

from sandbox.newsletter._options import NewsletterOptions

__all__ = ["Page", "envelope", "page_params"]

DEFAULT_PER_PAGE = 20


@dataclass(frozen=True)
class Page:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_params(
    request: Request,
    page: Annotated[int, Query(ge=1, le=10**9)] = 1,
    per_page: Annotated[str, Query(max_length=12)] = str(DEFAULT_PER_PAGE),
) -> Page:
    options: NewsletterOptions = request.app.state.options
    if not per_page.isdigit() or not 1 <= int(per_page) <= options.max_per_page:
        raise HTTPException(
            status_code=400,
            detail=f"per_page must be a number from 1 to {options.max_per_page}",
        )
    return Page(page=page, per_page=int(per_page))


def envelope(results: list[dict[str, Any]], total: int, page: Page) -> dict[str, Any]:
    return {
        "data": {
            "results": results,
            "total": total,
            "per_page": page.per_page,
            "page": page.page,
        }
    }
