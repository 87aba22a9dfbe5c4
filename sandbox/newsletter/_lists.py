"""`GET /api/lists`: the mailing lists, a page at a time, with their subscriber counts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from sandbox.newsletter import _store as store
from sandbox.newsletter._auth import require_api_user
from sandbox.newsletter._common import engine_of
from sandbox.newsletter._paging import Page, envelope, page_params
from sandbox.newsletter._views import list_json

__all__ = ["router"]

router = APIRouter(prefix="/api", dependencies=[Depends(require_api_user)])


@router.get("/lists")
async def get_lists(
    request: Request, page: Annotated[Page, Depends(page_params)]
) -> dict[str, Any]:
    async with engine_of(request).connect() as conn:
        rows, total = await store.lists_page(conn, page)
    return envelope([list_json(row, count) for row, count in rows], total, page)
