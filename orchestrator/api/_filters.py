"""The list's filters as query parameters, shared by `GET /api/requests`, its CSV twin and the
dashboard's table (one definition, so a filter means the same in all three)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import HTTPException, Query, status
from pydantic import ValidationError

from orchestrator.dpo import RequestQuery, SortField, query_from_filters
from schemas.events import Channel, RequestKind, is_valid_request_id
from schemas.status import RequestStatus

__all__ = ["ListFilters", "known_request_id", "list_filters"]


class ListFilters:
    """The parsed parameters (kept for re-rendering the dashboard's filter form)."""

    def __init__(
        self,
        *,
        status_: list[RequestStatus],
        kind: list[RequestKind],
        channel: list[Channel],
        overdue: bool | None,
        open_only: bool,
        due_before: date | None,
        received_from: date | None,
        received_to: date | None,
        system_outcome: str | None,
        q: str | None,
        sort: SortField,
        order: Literal["asc", "desc"],
        limit: int,
        cursor: str | None,
    ) -> None:
        self.status = status_
        self.kind = kind
        self.channel = channel
        self.overdue = overdue
        self.open_only = open_only
        self.due_before = due_before
        self.received_from = received_from
        self.received_to = received_to
        self.system_outcome = system_outcome
        self.q = q
        self.sort = sort
        self.order = order
        self.limit = limit
        self.cursor = cursor

    def query(self, *, limit: int | None = None, all_rows: bool = False) -> RequestQuery:
        try:
            return query_from_filters(
                status=self.status,
                kind=self.kind,
                channel=self.channel,
                overdue=self.overdue,
                open_only=self.open_only,
                due_before=self.due_before,
                received_from=self.received_from,
                received_to=self.received_to,
                system_outcome=self.system_outcome,
                request_id_prefix=(self.q or "").strip() or None,
                sort=self.sort,
                descending=self.order == "desc",
                limit=None if all_rows else (limit or self.limit),
                cursor=None if all_rows else self.cursor,
            )
        except (ValidationError, ValueError) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None

    def params(self, **override: object) -> dict[str, object]:
        """The filters as query parameters (for links to the next page, the CSV, a sort)."""
        values: dict[str, object] = {
            "status": [s.value for s in self.status],
            "kind": [k.value for k in self.kind],
            "channel": [c.value for c in self.channel],
            "overdue": None if self.overdue is None else str(self.overdue).lower(),
            "open_only": "true" if self.open_only else None,
            "due_before": self.due_before.isoformat() if self.due_before else None,
            "received_from": self.received_from.isoformat() if self.received_from else None,
            "received_to": self.received_to.isoformat() if self.received_to else None,
            "system_outcome": self.system_outcome,
            "q": self.q,
            "sort": self.sort.value,
            "order": self.order,
            "limit": self.limit,
        }
        values.update(override)
        return {k: v for k, v in values.items() if v not in (None, "", [])}


def list_filters(
    status_: Annotated[
        list[RequestStatus] | None, Query(alias="status", description="repeatable")
    ] = None,
    kind: Annotated[list[RequestKind] | None, Query(description="repeatable")] = None,
    channel: Annotated[list[Channel] | None, Query(description="repeatable")] = None,
    overdue: Annotated[bool | None, Query(description="past the deadline and not answered")] = None,
    open_only: Annotated[bool, Query(description="only requests not answered yet")] = False,
    due_before: Annotated[
        date | None, Query(description="due by the end of this day (Stockholm)")
    ] = None,
    received_from: Annotated[date | None, Query(description="received on or after")] = None,
    received_to: Annotated[date | None, Query(description="received on or before")] = None,
    system_outcome: Annotated[
        str | None,
        Query(description="`failed` (any system) or `billing:failed` (that system)"),
    ] = None,
    q: Annotated[str | None, Query(description="request id prefix", max_length=200)] = None,
    sort: SortField = SortField.RECEIVED_AT,
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> ListFilters:
    return ListFilters(
        status_=status_ or [],
        kind=kind or [],
        channel=channel or [],
        overdue=overdue,
        open_only=open_only,
        due_before=due_before,
        received_from=received_from,
        received_to=received_to,
        system_outcome=system_outcome or None,
        q=q or None,
        sort=sort,
        order=order,
        limit=limit,
        cursor=cursor or None,
    )


def known_request_id(request_id: str) -> str:
    """The id, or 404 for one no request can have (`schemas.events.is_valid_request_id`: intake
    refuses any other), before the store or Temporal is asked (a NUL byte is an error on
    PostgreSQL, an over-long id one on Temporal)."""
    if not is_valid_request_id(request_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no request has this id")
    return request_id
