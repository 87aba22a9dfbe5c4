"""`/api/subscribers…`: search, read, export, tracking pages, create, update, delete, and list
memberships, as listmonk answers them.

The tracking pages (`/campaign_views`, `/link_clicks`) are the sandbox's addition: listmonk's
export is one document with everything, and a client that must never hold a whole result set
in memory needs those records a page at a time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox.newsletter import _store as store
from sandbox.newsletter._auth import require_api_user
from sandbox.newsletter._common import engine_of, not_found, options_of
from sandbox.newsletter._models import ListsChange, SubscriberCreate, SubscriberUpdate
from sandbox.newsletter._paging import Page, envelope, page_params
from sandbox.newsletter._query import QueryError, parse_query
from sandbox.newsletter._views import iso, subscriber_json
from sandbox.newsletter.hashing import blocklist_hash

__all__ = ["router"]

router = APIRouter(prefix="/api", dependencies=[Depends(require_api_user)])

PageParams = Annotated[Page, Depends(page_params)]


@router.get("/subscribers")
async def search_subscribers(
    request: Request,
    page: PageParams,
    query: Annotated[str | None, Query(max_length=2000)] = None,
    list_id: Annotated[list[int] | None, Query()] = None,
    subscription_status: Annotated[
        str | None, Query(pattern="^(unconfirmed|confirmed|unsubscribed)$")
    ] = None,
) -> dict[str, Any]:
    try:
        where = parse_query(query) if query and query.strip() else None
    except QueryError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    async with engine_of(request).connect() as conn:
        rows, total = await store.search_subscribers(
            conn, where, page, list_id or (), subscription_status
        )
        subscriptions = await store.subscriptions_of(conn, [row.id for row in rows])
    return envelope([subscriber_json(r, subscriptions[r.id]) for r in rows], total, page)


@router.get("/subscribers/{subscriber_id:int}")
async def get_subscriber(request: Request, subscriber_id: int) -> dict[str, Any]:
    async with engine_of(request).connect() as conn:
        row = await store.get_subscriber(conn, subscriber_id)
        if row is None:
            raise not_found("subscriber")
        subscriptions = await store.subscriptions_of(conn, [row.id])
    return {"data": subscriber_json(row, subscriptions[row.id])}


@router.get("/subscribers/{subscriber_id:int}/export")
async def export_subscriber(request: Request, subscriber_id: int) -> dict[str, Any]:
    """listmonk's data export: profile, subscriptions, campaign views and link clicks."""
    everything = Page(page=1, per_page=10**9)
    async with engine_of(request).connect() as conn:
        row = await store.get_subscriber(conn, subscriber_id)
        if row is None:
            raise not_found("subscriber")
        subscriptions = (await store.subscriptions_of(conn, [row.id]))[row.id]
        views, _ = await store.views_page(conn, row.id, everything)
        clicks, _ = await store.clicks_page(conn, row.id, everything)
    return {
        "profile": [
            {
                "id": row.id,
                "uuid": row.uuid,
                "email": row.email,
                "name": row.name,
                "attribs": row.attribs or {},
                "status": row.status,
                "created_at": iso(row.created_at),
                "updated_at": iso(row.updated_at),
            }
        ],
        "subscriptions": [
            {
                "subscription_status": s.status,
                "name": s.name,
                "type": s.type,
                "created_at": iso(s.created_at),
            }
            for s in subscriptions
        ],
        "campaign_views": [
            {"subject": v.subject, "campaign": v.campaign, "created_at": iso(v.created_at)}
            for v in views
        ],
        "link_clicks": [
            {"url": c.url, "campaign": c.campaign, "created_at": iso(c.created_at)} for c in clicks
        ],
    }


@router.get("/subscribers/{subscriber_id:int}/campaign_views")
async def subscriber_views(
    request: Request, subscriber_id: int, page: PageParams
) -> dict[str, Any]:
    async with engine_of(request).connect() as conn:
        rows, total = await store.views_page(conn, subscriber_id, page)
        if not rows and await store.get_subscriber(conn, subscriber_id) is None:
            raise not_found("subscriber")
    results = [
        {
            "id": r.id,
            "campaign_id": r.campaign_id,
            "campaign": r.campaign,
            "subject": r.subject,
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]
    return envelope(results, total, page)


@router.get("/subscribers/{subscriber_id:int}/link_clicks")
async def subscriber_clicks(
    request: Request, subscriber_id: int, page: PageParams
) -> dict[str, Any]:
    async with engine_of(request).connect() as conn:
        rows, total = await store.clicks_page(conn, subscriber_id, page)
        if not rows and await store.get_subscriber(conn, subscriber_id) is None:
            raise not_found("subscriber")
    results = [
        {
            "id": r.id,
            "campaign_id": r.campaign_id,
            "campaign": r.campaign,
            "link_id": r.link_id,
            "url": r.url,
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]
    return envelope(results, total, page)


@router.post("/subscribers")
async def create_subscriber(request: Request, body: SubscriberCreate) -> dict[str, Any]:
    email = _acceptable_email(body.email)
    async with engine_of(request).begin() as conn:
        await _refuse_unusable(request, conn, email, other_than=None)
        await _refuse_unknown_lists(conn, body.lists)
        subscriber_id = await store.add_subscriber(
            conn,
            store.NewSubscriber(
                email=email,
                name=body.name.strip() or email.split("@", 1)[0],
                attribs=body.attribs,
                status=body.status,
                list_ids=tuple(body.lists),
                preconfirm=body.preconfirm_subscriptions,
            ),
        )
        row = await store.get_subscriber(conn, subscriber_id)
        subscriptions = await store.subscriptions_of(conn, [subscriber_id])
    assert row is not None  # inserted in this transaction
    return {"data": subscriber_json(row, subscriptions[subscriber_id])}


@router.put("/subscribers/lists")
async def change_lists(request: Request, body: ListsChange) -> dict[str, Any]:
    async with engine_of(request).begin() as conn:
        await _refuse_unknown_lists(conn, body.target_list_ids)
        await store.change_subscriptions(
            conn, body.ids, body.target_list_ids, body.action, body.status
        )
    return {"data": True}


@router.put("/subscribers/{subscriber_id:int}")
async def update_subscriber(
    request: Request, subscriber_id: int, body: SubscriberUpdate
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if body.email is not None:
        values["email"] = _acceptable_email(body.email)
    if body.name is not None:
        name = " ".join(body.name.split())
        if not name:
            raise HTTPException(status_code=400, detail="invalid name")
        values["name"] = name
    if body.status is not None:
        values["status"] = body.status
    if body.attribs is not None:
        values["attribs"] = body.attribs
    async with engine_of(request).begin() as conn:
        row = await store.get_subscriber(conn, subscriber_id)
        if row is None:
            raise not_found("subscriber")
        if "email" in values and values["email"] != row.email:
            await _refuse_unusable(request, conn, values["email"], other_than=subscriber_id)
        if body.lists:
            await _refuse_unknown_lists(conn, body.lists)
            await store.change_subscriptions(
                conn,
                [subscriber_id],
                body.lists,
                "add",
                "confirmed" if body.preconfirm_subscriptions else None,
            )
        if values:
            await store.update_subscriber(conn, subscriber_id, values)
        if values.get("status") == "blocklisted":
            await store.unsubscribe_all(conn, subscriber_id)
        row = await store.get_subscriber(conn, subscriber_id)
        subscriptions = await store.subscriptions_of(conn, [subscriber_id])
    assert row is not None  # updated in this transaction
    return {"data": subscriber_json(row, subscriptions[subscriber_id])}


@router.delete("/subscribers/{subscriber_id:int}")
async def delete_subscriber(request: Request, subscriber_id: int) -> dict[str, Any]:
    async with engine_of(request).begin() as conn:
        if not await store.delete_subscriber(conn, subscriber_id):
            raise not_found("subscriber")
    return {"data": True}


def _acceptable_email(address: str) -> str:
    email = store.valid_email(address)
    if email is None:
        raise HTTPException(status_code=400, detail="invalid email")
    return email


async def _refuse_unusable(
    request: Request, conn: AsyncConnection, email: str, *, other_than: int | None
) -> None:
    """An address erased on request (its hash is blocklisted) or owned by somebody else."""
    if await store.is_blocklisted(conn, blocklist_hash(email, options_of(request).blocklist_salt)):
        raise HTTPException(status_code=400, detail="E-mail address is blocklisted.")
    if await store.email_taken(conn, email, other_than=other_than):
        raise HTTPException(status_code=409, detail="E-mail already exists.")


async def _refuse_unknown_lists(conn: AsyncConnection, wanted: list[int]) -> None:
    if wanted and len(await store.list_ids(conn, wanted)) != len(set(wanted)):
        raise HTTPException(status_code=400, detail="unknown list id")
