"""The registrar platform's admin API (Bearer token): contacts, domains, the registry log.

Searches are `POST /contacts/search` with the value in the JSON body, not in the URL: e-mail
addresses and personnummer in query strings end up in access logs, proxies and client logs.
Lists are paged with an opaque `cursor`; `limit` is capped by the server's `max_page_size`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sandbox.registrar.options import RegistrarOptions
from sandbox.registrar.store import Conflict, RegistrarStore, StateChange, parse_reference
from sandbox.registrar.views import contact_json, domain_json, page_json, update_json

__all__ = ["MAX_HANDLES", "router"]

MAX_HANDLES = 100  # handles per list request

router = APIRouter()

_E164 = r"^\+[1-9][0-9]{6,14}$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: Literal[
        "email",
        "customer_number",
        "personal_identity_number",
        "organisation_number",
        "phone",
        "handle",
    ]
    value: str = Field(min_length=1, max_length=254)
    cursor: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class ContactPatch(BaseModel):
    """The fields of a contact the registrar lets its staff change (identity numbers and the
    customer link are not: a new holder is a new contact)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    phone: str | None = Field(default=None, pattern=_E164)
    street: str | None = Field(default=None, min_length=1, max_length=200)
    postcode: str | None = Field(default=None, min_length=1, max_length=10)
    city: str | None = Field(default=None, min_length=1, max_length=100)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


def _store(request: Request) -> RegistrarStore:
    store: RegistrarStore = request.app.state.store
    return store


def _limit(request: Request, asked: int) -> int:
    options: RegistrarOptions = request.app.state.options
    return max(1, min(asked, options.max_page_size))


def _cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return 0
    return int(cursor) if cursor.isdigit() else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _normalise(field: str, value: str) -> str:
    value = value.strip()
    if field == "email":
        return value.lower()
    if field in ("handle", "customer_number"):
        return value.upper()
    return value


def _change_json(change: StateChange) -> dict[str, Any]:
    return {
        "contact": contact_json(change.contact) if change.contact is not None else None,
        "changed": change.changed,
        "changed_fields": change.changed_fields,
        "registry_updates": [update_json(row) for row in change.updates],
    }


# --- contacts ---------------------------------------------------------------------------------


@router.post("/contacts/search")
async def search_contacts(request: Request, body: SearchRequest) -> JSONResponse:
    after = _cursor(body.cursor)
    if after is None:
        return _error(400, "invalid cursor")
    value = _normalise(body.field, body.value)
    page = await _store(request).search_contacts(
        body.field, value, after, _limit(request, body.limit)
    )
    return JSONResponse(page_json(page, [contact_json(row) for row in page.items]))


@router.get("/contacts/{handle}")
async def get_contact(request: Request, handle: str) -> JSONResponse:
    row = await _store(request).contact(handle.upper())
    if row is None:
        return _error(404, "no such contact")
    return JSONResponse(contact_json(row))


@router.get("/contacts/{handle}/domains")
async def contact_domains(
    request: Request, handle: str, cursor: str | None = None, limit: int = 100
) -> JSONResponse:
    return await list_domains(request, [handle], cursor, limit)


@router.patch("/contacts/{handle}")
async def update_contact(request: Request, handle: str, body: ContactPatch) -> JSONResponse:
    values = {k: v for k, v in body.model_dump(exclude_none=True).items()}
    if not values:
        return _error(400, "nothing to change")
    if "email" in values:
        values["email"] = values["email"].lower()
    change = await _store(request).update_contact(handle.upper(), values)
    if change.contact is None:
        return _error(404, "no such contact")
    return JSONResponse(_change_json(change))


@router.delete("/contacts/{handle}")
async def delete_contact(request: Request, handle: str) -> JSONResponse:
    try:
        change = await _store(request).delete_contact(handle.upper())
    except Conflict as exc:
        return _error(409, str(exc))
    if not change.changed:
        return _error(404, "no such contact")
    body = _change_json(change)
    body["domains_deleted"] = change.domains_deleted
    return JSONResponse(body)


@router.post("/contacts/{handle}/redact")
async def redact_contact(request: Request, handle: str) -> JSONResponse:
    change = await _store(request).redact(handle.upper())
    if change.contact is None:
        return _error(404, "no such contact")
    return JSONResponse(_change_json(change))


@router.post("/contacts/{handle}/restrict")
async def restrict_contact(request: Request, handle: str) -> JSONResponse:
    change = await _store(request).set_restricted(handle.upper(), True)
    if change.contact is None:
        return _error(404, "no such contact")
    return JSONResponse(_change_json(change))


@router.post("/contacts/{handle}/lift-restriction")
async def lift_restriction(request: Request, handle: str) -> JSONResponse:
    change = await _store(request).set_restricted(handle.upper(), False)
    if change.contact is None:
        return _error(404, "no such contact")
    return JSONResponse(_change_json(change))


# --- domains ----------------------------------------------------------------------------------


@router.get("/domains")
async def list_domains(
    request: Request,
    contact: Annotated[list[str], Query()],
    cursor: str | None = None,
    limit: int = 100,
) -> JSONResponse:
    """Distinct domains on which any of the `contact` handles has a role, with those roles."""
    after = _cursor(cursor)
    if after is None:
        return _error(400, "invalid cursor")
    if not 1 <= len(contact) <= MAX_HANDLES:
        return _error(400, f"give 1 to {MAX_HANDLES} contact handles")
    page = await _store(request).domains_of(
        [h.upper() for h in contact], after, _limit(request, limit)
    )
    return JSONResponse(page_json(page, [domain_json(item) for item in page.items]))


@router.get("/domains/{name}")
async def get_domain(request: Request, name: str) -> JSONResponse:
    item = await _store(request).domain(name.lower())
    if item is None:
        return _error(404, "no such domain")
    return JSONResponse(domain_json(item))


@router.delete("/domains/{name}")
async def delete_domain(request: Request, name: str) -> JSONResponse:
    try:
        found = await _store(request).delete_domain(name.lower())
    except Conflict as exc:
        return _error(409, str(exc))
    if not found:
        return _error(404, "no such domain")
    return JSONResponse({"name": name.lower(), "deleted": True})


@router.delete("/domains/{name}/contacts/{handle}")
async def remove_domain_contact(request: Request, name: str, handle: str) -> JSONResponse:
    """Take a contact off a lapsed registration (all its roles there); the registration stays
    with its other contacts, or is deleted if no customer contact is left on it."""
    try:
        removal = await _store(request).remove_contact(name.lower(), handle.upper())
    except Conflict as exc:
        return _error(409, str(exc))
    if removal is None:
        return _error(404, "no such domain, or the contact has no role on it")
    return JSONResponse(
        {
            "name": name.lower(),
            "handle": handle.upper(),
            "roles_removed": removal.roles_removed,
            "domain_deleted": removal.domain_deleted,
        }
    )


# --- registry log -----------------------------------------------------------------------------


@router.get("/registry/updates")
async def list_updates(
    request: Request,
    handle: Annotated[list[str], Query()],
    cursor: str | None = None,
    limit: int = 100,
) -> JSONResponse:
    """Changes pushed to the registries for the given handles, oldest first, with `total`."""
    after = _cursor(cursor)
    if after is None:
        return _error(400, "invalid cursor")
    if not 1 <= len(handle) <= MAX_HANDLES:
        return _error(400, f"give 1 to {MAX_HANDLES} handles")
    page = await _store(request).registry_updates(
        [h.upper() for h in handle], after, _limit(request, limit)
    )
    return JSONResponse(page_json(page, [update_json(row) for row in page.items]))


@router.get("/registry/updates/{reference}")
async def get_update(request: Request, reference: str) -> JSONResponse:
    parsed = parse_reference(reference)
    row = None if parsed is None else await _store(request).registry_update(*parsed)
    if row is None:
        return _error(404, "no such registry update")
    return JSONResponse(update_json(row))
