"""Talk (recorded calls), satisfaction ratings and organizations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select

from sandbox.support._deps import Engine
from sandbox.support._errors import not_found
from sandbox.support._pagination import PageParams, page_body, paged
from sandbox.support._render import call_json, organization_json, rating_json
from sandbox.support.schema import calls, organizations, satisfaction_ratings

__all__ = ["router"]

router = APIRouter()


@router.get("/api/v2/calls")
def list_calls(
    request: Request,
    params: PageParams,
    engine: Engine,
    user_id: Annotated[int | None, Query()] = None,
) -> JSONResponse:
    statement = select(calls)
    if user_id is not None:
        statement = statement.where(calls.c.user_id == user_id)
    with engine.connect() as conn:
        rows = (conn.execute(paged(statement, calls.c.id, params))).all()
    return page_body(request, "calls", [call_json(r) for r in rows], params, [r.id for r in rows])


@router.delete("/api/v2/calls/{call_id}", status_code=204)
def delete_call(call_id: int, engine: Engine) -> Response:
    """Deletes the call and its recording."""
    with engine.begin() as conn:
        done = conn.execute(delete(calls).where(calls.c.id == call_id))
    if not done.rowcount:
        raise not_found()
    return Response(status_code=204)


@router.get("/api/v2/satisfaction_ratings")
def list_ratings(
    request: Request,
    params: PageParams,
    engine: Engine,
    user_id: Annotated[int | None, Query()] = None,
) -> JSONResponse:
    statement = select(satisfaction_ratings)
    if user_id is not None:
        statement = statement.where(satisfaction_ratings.c.user_id == user_id)
    with engine.connect() as conn:
        rows = (conn.execute(paged(statement, satisfaction_ratings.c.id, params))).all()
    return page_body(
        request,
        "satisfaction_ratings",
        [rating_json(request, r) for r in rows],
        params,
        [r.id for r in rows],
    )


@router.get("/api/v2/organizations/{organization_id}")
def show_organization(request: Request, organization_id: int, engine: Engine) -> JSONResponse:
    with engine.connect() as conn:
        row = (
            conn.execute(select(organizations).where(organizations.c.id == organization_id))
        ).first()
    if row is None:
        raise not_found()
    return JSONResponse({"organization": organization_json(request, row)})
