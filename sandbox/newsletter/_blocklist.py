"""The blocklist of salted address hashes, and the import that honours it.

`POST /api/blocklist/hashes` adds hashes (idempotent), `GET /api/blocklist/hashes/{hash}` says
whether one is there (404 if not), `GET /api/blocklist/hashes` pages through them.
`POST /api/import/subscribers` imports subscribers (a JSON stand-in for listmonk's CSV import)
and refuses every address whose salted hash is blocklisted: an erased person's address must not
come back with the next import from a partner or an old spreadsheet.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from sandbox.newsletter import _store as store
from sandbox.newsletter._auth import require_api_user
from sandbox.newsletter._common import engine_of, not_found, options_of
from sandbox.newsletter._models import HashesAdd, ImportRequest
from sandbox.newsletter._paging import Page, envelope, page_params
from sandbox.newsletter._views import iso
from sandbox.newsletter.hashing import blocklist_hash

__all__ = ["router"]

router = APIRouter(prefix="/api", dependencies=[Depends(require_api_user)])

PageParams = Annotated[Page, Depends(page_params)]
HashPath = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


@router.post("/blocklist/hashes")
async def add_hashes(request: Request, body: HashesAdd) -> dict[str, Any]:
    async with engine_of(request).begin() as conn:
        added = await store.add_hashes(conn, body.hashes)
    return {"data": {"added": added, "total": len(set(body.hashes))}}


@router.get("/blocklist/hashes")
async def list_hashes(
    request: Request, page: Annotated[Page, Depends(page_params)]
) -> dict[str, Any]:
    async with engine_of(request).connect() as conn:
        rows, total = await store.blocklist_page(conn, page)
    results = [{"hash": r.hash, "created_at": iso(r.created_at)} for r in rows]
    return envelope(results, total, page)


@router.get("/blocklist/hashes/{digest}")
async def get_hash(request: Request, digest: HashPath) -> dict[str, Any]:
    async with engine_of(request).connect() as conn:
        row = await store.blocklist_entry(conn, digest)
    if row is None:
        raise not_found("hash")
    return {"data": {"hash": row.hash, "created_at": iso(row.created_at)}}


@router.post("/import/subscribers")
async def import_subscribers(request: Request, body: ImportRequest) -> dict[str, Any]:
    """Per row: `imported`, `exists` (updated if `overwrite`), `blocklisted` or `invalid`."""
    salt = options_of(request).blocklist_salt
    results: list[dict[str, Any]] = []
    async with engine_of(request).begin() as conn:
        if body.lists and len(await store.list_ids(conn, body.lists)) != len(set(body.lists)):
            raise HTTPException(status_code=400, detail="unknown list id")
        for index, item in enumerate(body.subscribers):
            email = store.valid_email(item.email)
            if email is None:
                results.append({"index": index, "status": "invalid", "id": None})
                continue
            if await store.is_blocklisted(conn, blocklist_hash(email, salt)):
                results.append({"index": index, "status": "blocklisted", "id": None})
                continue
            existing = await store.find_by_email(conn, email)
            if existing is not None:
                subscriber_id = existing.id
                if body.overwrite:
                    await store.update_subscriber(
                        conn,
                        subscriber_id,
                        {"name": _name(item.name, email), "attribs": item.attribs},
                    )
                results.append({"index": index, "status": "exists", "id": subscriber_id})
                continue
            subscriber_id = await store.add_subscriber(
                conn,
                store.NewSubscriber(
                    email=email,
                    name=_name(item.name, email),
                    attribs=item.attribs,
                    list_ids=tuple(body.lists),
                ),
            )
            results.append({"index": index, "status": "imported", "id": subscriber_id})
    summary = {
        status: sum(1 for r in results if r["status"] == status)
        for status in ("imported", "exists", "blocklisted", "invalid")
    }
    return {"data": {**summary, "results": results}}


def _name(given: str, email: str) -> str:
    return " ".join(given.split()) or email.split("@", 1)[0]
