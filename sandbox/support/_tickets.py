"""Tickets and their comments: list by external id, show, update, delete; comments paged with
their attachments; Zendesk's comment redaction.

Redaction (`PUT /tickets/{id}/comments/{comment_id}/redact` with `{"text": "…"}`) replaces every
occurrence of the text in the comment with one ▇ per character, permanently, as Zendesk does:
it is how a ticket that must be kept can lose the personal data in it. The ticket's description
is its first comment, so it is redacted with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, delete, func, select, update

from sandbox.support._deps import Engine
from sandbox.support._errors import ApiError, not_found
from sandbox.support._pagination import PageParams, page_body, paged
from sandbox.support._render import comment_json, ticket_json
from sandbox.support.schema import (
    TICKET_STATUSES,
    attachments,
    calls,
    comments,
    satisfaction_ratings,
    tickets,
)

__all__ = ["REDACTION_MARK", "descriptions", "router"]

router = APIRouter()

REDACTION_MARK = "▇"


def descriptions(conn: Connection, ticket_ids: Sequence[int]) -> dict[int, str]:
    """The first comment of each ticket: one indexed query for a page of tickets."""
    if not ticket_ids:
        return {}
    first = (
        select(func.min(comments.c.id))
        .where(comments.c.ticket_id.in_(ticket_ids))
        .group_by(comments.c.ticket_id)
    )
    rows = conn.execute(
        select(comments.c.ticket_id, comments.c.body).where(comments.c.id.in_(first))
    )
    return {row.ticket_id: row.body for row in rows}


@router.get("/api/v2/tickets")
def list_tickets(
    request: Request,
    params: PageParams,
    engine: Engine,
    external_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    statement = select(tickets)
    if external_id is not None:
        statement = statement.where(tickets.c.external_id == external_id)
    with engine.connect() as conn:
        rows = (conn.execute(paged(statement, tickets.c.id, params))).all()
        first = descriptions(conn, [r.id for r in rows])
    return page_body(
        request,
        "tickets",
        [ticket_json(request, r, first.get(r.id)) for r in rows],
        params,
        [r.id for r in rows],
    )


@router.get("/api/v2/tickets/{ticket_id}")
def show_ticket(request: Request, ticket_id: int, engine: Engine) -> JSONResponse:
    with engine.connect() as conn:
        row = (conn.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
        if row is None:
            raise not_found()
        first = descriptions(conn, [ticket_id])
    return JSONResponse({"ticket": ticket_json(request, row, first.get(ticket_id))})


@router.put("/api/v2/tickets/{ticket_id}")
def update_ticket(
    request: Request,
    ticket_id: int,
    payload: Annotated[dict[str, Any], Body()],
    engine: Engine,
) -> JSONResponse:
    fields = payload.get("ticket")
    if not isinstance(fields, dict):
        raise ApiError(400, "InvalidValue", "Expected a ticket object")
    values: dict[str, Any] = {}
    if "external_id" in fields:
        if fields["external_id"] is not None and not isinstance(fields["external_id"], str):
            raise ApiError(422, "RecordInvalid", "external_id must be a string")
        values["external_id"] = fields["external_id"]
    if "subject" in fields:
        if not isinstance(fields["subject"], str) or not fields["subject"].strip():
            raise ApiError(422, "RecordInvalid", "Subject: cannot be blank")
        values["subject"] = fields["subject"]
    if "status" in fields:
        if fields["status"] not in TICKET_STATUSES:
            raise ApiError(422, "RecordInvalid", "Status: is not valid")
        values["status"] = fields["status"]
    if "tags" in fields:
        tags = fields["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ApiError(422, "RecordInvalid", "Tags: must be a list of strings")
        values["tags"] = " ".join(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
    with engine.begin() as conn:
        if values:
            values["updated_at"] = datetime.now(UTC)
            done = conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))
            if not done.rowcount:
                raise not_found()
        row = (conn.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
        if row is None:
            raise not_found()
        first = descriptions(conn, [ticket_id])
    return JSONResponse({"ticket": ticket_json(request, row, first.get(ticket_id))})


@router.delete("/api/v2/tickets/{ticket_id}", status_code=204)
def delete_ticket(ticket_id: int, engine: Engine) -> Response:
    """Deletes the ticket with its comments, attachments and rating (the sandbox keeps no
    "deleted tickets" view: deletion is permanent at once)."""
    with engine.begin() as conn:
        exists = conn.scalar(select(tickets.c.id).where(tickets.c.id == ticket_id))
        if exists is None:
            raise not_found()
        own_comments = select(comments.c.id).where(comments.c.ticket_id == ticket_id)
        conn.execute(delete(attachments).where(attachments.c.comment_id.in_(own_comments)))
        conn.execute(delete(comments).where(comments.c.ticket_id == ticket_id))
        conn.execute(
            delete(satisfaction_ratings).where(satisfaction_ratings.c.ticket_id == ticket_id)
        )
        conn.execute(update(calls).where(calls.c.ticket_id == ticket_id).values(ticket_id=None))
        conn.execute(delete(tickets).where(tickets.c.id == ticket_id))
    return Response(status_code=204)


@router.get("/api/v2/tickets/{ticket_id}/comments")
def list_comments(
    request: Request,
    ticket_id: int,
    params: PageParams,
    engine: Engine,
) -> JSONResponse:
    with engine.connect() as conn:
        exists = conn.scalar(select(tickets.c.id).where(tickets.c.id == ticket_id))
        if exists is None:
            raise not_found()
        statement = paged(
            select(comments).where(comments.c.ticket_id == ticket_id), comments.c.id, params
        )
        rows = (conn.execute(statement)).all()
        files: dict[int, list[Any]] = {}
        if rows:
            found = conn.execute(
                select(attachments)
                .where(attachments.c.comment_id.in_([r.id for r in rows]))
                .order_by(attachments.c.id)
            )
            for file in found:
                files.setdefault(file.comment_id, []).append(file)
    return page_body(
        request,
        "comments",
        [comment_json(r, files.get(r.id, [])) for r in rows],
        params,
        [r.id for r in rows],
    )


@router.put("/api/v2/tickets/{ticket_id}/comments/{comment_id}/redact")
def redact_comment(
    ticket_id: int,
    comment_id: int,
    payload: Annotated[dict[str, Any], Body()],
    engine: Engine,
) -> JSONResponse:
    text = payload.get("text")
    if not isinstance(text, str) or not text:
        raise ApiError(400, "InvalidValue", "text: the string to redact is required")
    with engine.begin() as conn:
        row = (
            conn.execute(
                select(comments)
                .where(comments.c.id == comment_id)
                .where(comments.c.ticket_id == ticket_id)
            )
        ).first()
        if row is None:
            raise not_found()
        body = row.body.replace(text, REDACTION_MARK * len(text))
        if body != row.body:
            conn.execute(update(comments).where(comments.c.id == comment_id).values(body=body))
        row = (conn.execute(select(comments).where(comments.c.id == comment_id))).one()
        files = (
            conn.execute(
                select(attachments)
                .where(attachments.c.comment_id == comment_id)
                .order_by(attachments.c.id)
            )
        ).all()
    return JSONResponse({"comment": comment_json(row, files)})
