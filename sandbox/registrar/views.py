"""JSON shapes of the admin API: contacts, domains with roles, registry updates, pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.registrar.store import DomainWithRoles, Page, reference_of

__all__ = ["contact_json", "domain_json", "iso", "page_json", "update_json"]


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite returns naive UTC
    return value.astimezone(UTC).isoformat()


def contact_json(row: Any) -> dict[str, Any]:
    return {
        "handle": row.handle,
        "kind": row.kind,
        "name": row.name,
        "organisation": row.organisation,
        "organisation_number": row.organisation_number,
        "personal_identity_number": row.personal_identity_number,
        "email": row.email,
        "phone": row.phone,
        "address": {
            "street": row.street,
            "postcode": row.postcode,
            "city": row.city,
            "country": row.country,
        },
        "customer_number": row.customer_number,
        "registries": [r for r in str(row.registries).split() if r],
        "disclose": bool(row.disclose),
        "restricted": bool(row.restricted),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def domain_json(item: DomainWithRoles) -> dict[str, Any]:
    domain = item.domain
    return {
        "name": domain.name,
        "registry": domain.registry,
        "status": domain.status,
        "created_at": iso(domain.created_at),
        "expires_at": iso(domain.expires_at),
        "roles": [
            {"handle": handle, "role": role, "kind": kind} for handle, role, kind in item.roles
        ],
    }


def update_json(row: Any) -> dict[str, Any]:
    return {
        "reference": reference_of(row.registry, row.id),
        "registry": row.registry,
        "handle": row.handle,
        "action": row.action,
        "fields": [f for f in str(row.fields).split(",") if f],
        "created_at": iso(row.created_at),
    }


def page_json(page: Page, items: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"items": items, "next_cursor": page.next_cursor}
    if page.total is not None:
        body["total"] = page.total
    return body
