"""Rows as listmonk's API shows them (its JSON field names), timestamps in ISO 8601 UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sandbox.newsletter._rows import AnyRow

__all__ = ["iso", "list_json", "subscriber_json", "subscription_json"]


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite returns naive UTC
    return value.isoformat()


def subscription_json(row: AnyRow) -> dict[str, Any]:
    """One of a subscriber's lists, with the subscription's own status and dates."""
    return {
        "id": row.list_id,
        "uuid": row.uuid,
        "name": row.name,
        "type": row.type,
        "optin": row.optin,
        "subscription_status": row.status,
        "subscription_created_at": iso(row.created_at),
        "subscription_updated_at": iso(row.updated_at),
    }


def subscriber_json(row: AnyRow, subscriptions: Sequence[AnyRow]) -> dict[str, Any]:
    return {
        "id": row.id,
        "uuid": row.uuid,
        "email": row.email,
        "name": row.name,
        "attribs": row.attribs or {},
        "status": row.status,
        "lists": [subscription_json(s) for s in subscriptions],
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def list_json(row: AnyRow, subscriber_count: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "uuid": row.uuid,
        "name": row.name,
        "type": row.type,
        "optin": row.optin,
        "description": row.description,
        "subscriber_count": subscriber_count,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
