"""Public RDAP (no token): `GET /rdap/domain/{name}` and `GET /rdap/entity/{handle}`.

Answers are `application/rdap+json`; anything not found (or not served) is an RFC 9083 error
object, never FastAPI's default error shape, so RDAP clients can parse every answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.registrar.rdap import MEDIA_TYPE, domain_response, entity_response, error_response
from sandbox.registrar.store import RegistrarStore

__all__ = ["router"]

router = APIRouter(prefix="/rdap")

_LDH = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _rdap(body: dict[str, object], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def _not_found(what: str) -> JSONResponse:
    return _rdap(error_response(404, "Not Found", f"No {what} matches the query."), 404)


def _store(request: Request) -> RegistrarStore:
    store: RegistrarStore = request.app.state.store
    return store


@router.get("/domain/{name}")
async def rdap_domain(request: Request, name: str) -> JSONResponse:
    name = name.lower().rstrip(".")
    if not _LDH.match(name):
        return _rdap(error_response(400, "Bad Request", "Not a domain name in LDH form."), 400)
    found = await _store(request).public_domain(name)
    if found is None:
        return _not_found("domain")
    domain, linked = found
    return _rdap(domain_response(domain, linked, str(request.base_url), datetime.now(UTC)))


@router.get("/entity/{handle}")
async def rdap_entity(request: Request, handle: str) -> JSONResponse:
    found = await _store(request).public_entity(handle.upper())
    if found is None:
        return _not_found("entity")
    contact, roles = found
    return _rdap(entity_response(contact, roles, str(request.base_url), datetime.now(UTC)))


@router.get("/{path:path}")
async def rdap_other(path: str) -> JSONResponse:
    return _not_found("object")
