"""Database rows as Zendesk API v2 JSON objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import Row

__all__ = [
    "attachment_json",
    "call_json",
    "comment_json",
    "deleted_user_json",
    "iso",
    "organization_json",
    "rating_json",
    "ticket_json",
    "user_json",
]


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as Zendesk writes times (SQLite hands back naive UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _url(request: Request, path: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{path}"


def user_json(request: Request, row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": _url(request, f"/api/v2/users/{row.id}.json"),
        "name": row.name,
        "email": row.email,
        "phone": row.phone,
        "role": row.role,
        "organization_id": row.organization_id,
        "external_id": row.external_id,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "active": bool(row.active),
        "verified": True,
        "suspended": False,
        "tags": [],
        "user_fields": {},
    }


def deleted_user_json(request: Request, row: Row[Any]) -> dict[str, Any]:
    """A deleted user as Zendesk's `deleted_users` endpoints show it: fewer fields than a user
    (no external_id, tags or user fields), `active` false."""
    return {
        "id": row.id,
        "url": _url(request, f"/api/v2/deleted_users/{row.id}.json"),
        "name": row.name,
        "email": row.email,
        "phone": row.phone,
        "shared_phone_number": None,
        "role": row.role,
        "organization_id": row.organization_id,
        "photo": None,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "active": False,
    }


def ticket_json(request: Request, row: Row[Any], description: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": _url(request, f"/api/v2/tickets/{row.id}.json"),
        "external_id": row.external_id,
        "subject": row.subject,
        "raw_subject": row.subject,
        "description": description,  # read-only in Zendesk: the first comment
        "status": row.status,
        "requester_id": row.requester_id,
        "submitter_id": row.submitter_id,
        "assignee_id": row.assignee_id,
        "organization_id": row.organization_id,
        "tags": row.tags.split() if row.tags else [],
        "via": {"channel": row.via_channel},
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def attachment_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "file_name": row.file_name,
        "content_url": row.content_url,
        "content_type": row.content_type,
        "size": row.size,
        "inline": False,
    }


def comment_json(row: Row[Any], files: Sequence[Row[Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": "Comment",
        "author_id": row.author_id,
        "body": row.body,
        "plain_body": row.body,
        "public": bool(row.public),
        "created_at": iso(row.created_at),
        "attachments": [attachment_json(f) for f in files],
    }


def call_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "ticket_id": row.ticket_id,
        "direction": row.direction,
        "started_at": iso(row.started_at),
        "duration": row.duration,
        "recording_url": row.recording_url,
    }


def rating_json(request: Request, row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": _url(request, f"/api/v2/satisfaction_ratings/{row.id}.json"),
        "ticket_id": row.ticket_id,
        "requester_id": row.user_id,
        "score": row.score,
        "comment": row.comment,
        "created_at": iso(row.created_at),
    }


def organization_json(request: Request, row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": _url(request, f"/api/v2/organizations/{row.id}.json"),
        "name": row.name,
        "organization_fields": {"organization_number": row.organization_number},
        "created_at": iso(row.created_at),
    }
