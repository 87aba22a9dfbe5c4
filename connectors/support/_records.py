"""Export records: what the subject gets for each category (plain JSON values only).

The conversation is given as written, with who wrote each comment ("you" or "support") but not
the staff's names: they are the staff's personal data, not the subject's.
"""

from __future__ import annotations

from connectors.support._models import (
    ApiAttachment,
    ApiCall,
    ApiComment,
    ApiOrganization,
    ApiRating,
    ApiTicket,
    ApiUser,
)

__all__ = [
    "attachment_record",
    "call_record",
    "comment_record",
    "rating_record",
    "ticket_record",
    "user_record",
]


def user_record(user: ApiUser, organization: ApiOrganization | None) -> dict[str, object]:
    company: dict[str, object] | None = None
    if organization is not None:
        number = organization.organization_fields.get("organization_number")
        company = {
            "name": organization.name,
            "organization_number": number if isinstance(number, str) else None,
        }
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "phone": user.phone,
        "customer_number": user.external_id,
        "organization": company,
        "created_at": user.created_at,
    }


def ticket_record(ticket: ApiTicket, comments: int) -> dict[str, object]:
    channel = ticket.via.get("channel") if ticket.via else None
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status,
        "tags": list(ticket.tags),
        "legal_hold": ticket.legal_hold,
        "channel": channel if isinstance(channel, str) else None,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "comments": comments,
    }


def comment_record(ticket: ApiTicket, comment: ApiComment) -> dict[str, object]:
    return {
        "id": comment.id,
        "ticket_id": ticket.id,
        "author": "you" if comment.author_id == ticket.requester_id else "support",
        "public": comment.public,
        "body": comment.body,
        "created_at": comment.created_at,
        "attachments": len(comment.attachments),
    }


def attachment_record(
    ticket: ApiTicket, comment: ApiComment, attachment: ApiAttachment
) -> dict[str, object]:
    return {
        "id": attachment.id,
        "ticket_id": ticket.id,
        "comment_id": comment.id,
        "file_name": attachment.file_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "content_url": attachment.content_url,
    }


def call_record(call: ApiCall) -> dict[str, object]:
    return {
        "id": call.id,
        "ticket_id": call.ticket_id,
        "direction": call.direction,
        "started_at": call.started_at,
        "duration_seconds": call.duration,
        "recording_url": call.recording_url,
    }


def rating_record(rating: ApiRating) -> dict[str, object]:
    return {
        "id": rating.id,
        "ticket_id": rating.ticket_id,
        "score": rating.score,
        "comment": rating.comment,
        "created_at": rating.created_at,
    }
