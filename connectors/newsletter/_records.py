"""Export records: what the subject receives for each category (plain JSON values only)."""

from __future__ import annotations

from typing import Any

from connectors.newsletter._documents import ApiClick, ApiSubscriber, ApiSubscription, ApiView

__all__ = [
    "blocklist_record",
    "click_record",
    "subscriber_record",
    "subscription_record",
    "view_record",
]

_BLOCKLIST_EXPLAINED = (
    "The address itself is not stored: only a keyed hash (HMAC-SHA256) of it, so that it is "
    "never imported or mailed again."
)


def subscriber_record(subscriber: ApiSubscriber) -> dict[str, object]:
    return {
        "subscriber_id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "attributes": dict(subscriber.attribs),
        "status": subscriber.status,
        "created_at": subscriber.created_at,
        "updated_at": subscriber.updated_at,
    }


def subscription_record(subscriber: ApiSubscriber, item: ApiSubscription) -> dict[str, object]:
    return {
        "subscriber_id": subscriber.id,
        "list": item.name,
        "list_type": item.type,
        "optin": item.optin,
        "status": item.subscription_status,
        "subscribed_at": item.subscription_created_at,
        "updated_at": item.subscription_updated_at,
    }


def view_record(subscriber: ApiSubscriber, view: ApiView) -> dict[str, object]:
    return {
        "subscriber_id": subscriber.id,
        "campaign": view.campaign,
        "subject": view.subject,
        "viewed_at": view.created_at,
    }


def click_record(subscriber: ApiSubscriber, click: ApiClick) -> dict[str, object]:
    return {
        "subscriber_id": subscriber.id,
        "campaign": click.campaign,
        "url": click.url,
        "clicked_at": click.created_at,
    }


def blocklist_record(email: str, entry: dict[str, Any]) -> dict[str, object]:
    created = entry.get("created_at")
    return {
        "email": email,
        "blocklisted_at": created if isinstance(created, str) else None,
        "stored_as": _BLOCKLIST_EXPLAINED,
    }
