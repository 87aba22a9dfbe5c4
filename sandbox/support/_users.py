"""Users: search by e-mail, external id or phone; show, update; delete, then delete for good.

Deletion is Zendesk's two steps: `DELETE /users/{id}` marks the user deleted (soft: the record
is kept, hidden from search), `DELETE /deleted_users/{id}` purges it and the user's satisfaction
ratings. In between the user is still there, with its name, e-mail and phone, under
`GET /deleted_users` (the list, paged) and `GET /deleted_users/{id}`. Tickets the user requested
are not deleted with the user (a ticket outlives its requester); whoever erases a person deletes
the tickets that may go first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Select, delete, func, select, update

from sandbox.support._deps import Engine
from sandbox.support._errors import ApiError, not_found
from sandbox.support._pagination import PageParams, page_body, paged
from sandbox.support._render import deleted_user_json, ticket_json, user_json
from sandbox.support._tickets import descriptions
from sandbox.support.schema import satisfaction_ratings, tickets, users

__all__ = ["router"]

router = APIRouter()

_QUERY = re.compile(r'^\s*(email|external_id|phone)\s*:\s*"?([^"]+?)"?\s*$')
_EDITABLE = ("name", "email", "phone", "external_id")


def _search(field: str, value: str) -> Select[Any]:
    value = value.strip()
    if field == "email":
        condition = users.c.email == value.lower()
    elif field == "phone":
        condition = users.c.phone == re.sub(r"[\s\-()]", "", value)
    else:
        condition = users.c.external_id == value
    return select(users).where(condition).where(users.c.active.is_(True))


@router.get("/api/v2/users/search")
def search_users(
    request: Request,
    params: PageParams,
    engine: Engine,
    query: Annotated[str | None, Query()] = None,
    external_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """`query=email:…`, `query=external_id:…`, `query=phone:…` or `external_id=…`: exact,
    indexed matches only (the sandbox has no full-text search)."""
    if external_id is not None:
        statement = _search("external_id", external_id)
    elif query is not None and (match := _QUERY.match(query)):
        statement = _search(match.group(1), match.group(2))
    else:
        raise ApiError(400, "InvalidQuery", "Search by email:, external_id: or phone:")
    with engine.connect() as conn:
        rows = (conn.execute(paged(statement, users.c.id, params))).all()
    return page_body(
        request,
        "users",
        [user_json(request, r) for r in rows],
        params,
        [r.id for r in rows],
        count=True,
    )


def _user(engine: Engine, user_id: int) -> Any:
    with engine.connect() as conn:
        row = (conn.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        raise not_found()
    return row


@router.get("/api/v2/users/{user_id}")
def show_user(request: Request, user_id: int, engine: Engine) -> JSONResponse:
    return JSONResponse({"user": user_json(request, _user(engine, user_id))})


@router.put("/api/v2/users/{user_id}")
def update_user(
    request: Request,
    user_id: int,
    payload: Annotated[dict[str, Any], Body()],
    engine: Engine,
) -> JSONResponse:
    fields = payload.get("user")
    if not isinstance(fields, dict):
        raise ApiError(400, "InvalidValue", "Expected a user object")
    values = {k: v for k, v in fields.items() if k in _EDITABLE}
    if any(v is not None and not isinstance(v, str) for v in values.values()):
        raise ApiError(422, "RecordInvalid", "Record validation errors")
    if "name" in values and not (values["name"] or "").strip():
        raise ApiError(422, "RecordInvalid", "Name: cannot be blank")
    if values.get("email"):
        values["email"] = values["email"].strip().lower()
    with engine.begin() as conn:
        row = (conn.execute(select(users).where(users.c.id == user_id))).first()
        if row is None or not row.active:
            raise not_found()
        for unique in ("email", "external_id"):
            if values.get(unique):
                taken = conn.scalar(
                    select(func.count())
                    .where(users.c[unique] == values[unique])
                    .where(users.c.id != user_id)
                )
                if taken:
                    raise ApiError(422, "RecordInvalid", f"{unique} is already being used")
        if values:
            values["updated_at"] = datetime.now(UTC)
            conn.execute(update(users).where(users.c.id == user_id).values(**values))
        row = (conn.execute(select(users).where(users.c.id == user_id))).one()
    return JSONResponse({"user": user_json(request, row)})


@router.delete("/api/v2/users/{user_id}")
def delete_user(request: Request, user_id: int, engine: Engine) -> JSONResponse:
    """Soft deletion: the user disappears from search; `deleted_users` purges it."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        done = conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .where(users.c.active.is_(True))
            .values(active=False, deleted_at=now, updated_at=now)
        )
        if not done.rowcount:
            raise not_found()
        row = (conn.execute(select(users).where(users.c.id == user_id))).one()
    return JSONResponse({"user": user_json(request, row)})


def _deleted() -> Select[Any]:
    """Deleted users not yet purged: a range of the (active, id) index."""
    return select(users).where(users.c.active.is_(False))


@router.get("/api/v2/deleted_users")
def list_deleted_users(request: Request, params: PageParams, engine: Engine) -> JSONResponse:
    """The deleted users, in id order, a cursor page at a time, as Zendesk's List Deleted Users.

    Like Zendesk's, the list takes pagination parameters only: no search, no filter by e-mail,
    phone or external id, so a client looking for somebody pages through it and compares. Zendesk
    also lists the users it has purged, emptied (named "Permanently Deleted User", e-mail and
    phone null); the sandbox drops the row on purge, so it lists the soft-deleted users only.
    """
    with engine.connect() as conn:
        rows = (conn.execute(paged(_deleted(), users.c.id, params))).all()
    return page_body(
        request,
        "deleted_users",
        [deleted_user_json(request, r) for r in rows],
        params,
        [r.id for r in rows],
    )


@router.get("/api/v2/deleted_users/{user_id}")
def show_deleted_user(request: Request, user_id: int, engine: Engine) -> JSONResponse:
    """A user deleted but not yet purged; 404 for an active user and for a purged one."""
    with engine.connect() as conn:
        row = (conn.execute(_deleted().where(users.c.id == user_id))).first()
    if row is None:
        raise not_found()
    return JSONResponse({"deleted_user": deleted_user_json(request, row)})


@router.delete("/api/v2/deleted_users/{user_id}")
def purge_user(user_id: int, engine: Engine) -> JSONResponse:
    """Permanent deletion of a (soft-)deleted user, with the user's satisfaction ratings."""
    with engine.begin() as conn:
        row = (conn.execute(select(users.c.active).where(users.c.id == user_id))).first()
        if row is None or row.active:
            raise not_found()
        conn.execute(delete(satisfaction_ratings).where(satisfaction_ratings.c.user_id == user_id))
        conn.execute(delete(users).where(users.c.id == user_id))
    return JSONResponse(
        {"deleted_user": {"id": user_id, "name": "Permanently Deleted User", "active": False}}
    )


@router.get("/api/v2/users/{user_id}/tickets/requested")
def requested_tickets(
    request: Request,
    user_id: int,
    params: PageParams,
    engine: Engine,
) -> JSONResponse:
    with engine.connect() as conn:
        exists = conn.scalar(select(users.c.id).where(users.c.id == user_id))
        if exists is None:
            raise not_found()
        own = select(tickets).where(tickets.c.requester_id == user_id)
        statement = paged(own, tickets.c.id, params)
        rows = (conn.execute(statement)).all()
        first = descriptions(conn, [r.id for r in rows])
    return page_body(
        request,
        "tickets",
        [ticket_json(request, r, first.get(r.id)) for r in rows],
        params,
        [r.id for r in rows],
    )
