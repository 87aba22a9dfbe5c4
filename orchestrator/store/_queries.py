"""The desk's request queries: filters, sort orders and keyset (cursor) pagination over
`requests`, built once here so the store, the API and the CLI agree on what each filter means.

Why keyset pagination: a DPO's list is sorted by a column that changes (status, due date) while
new requests arrive; an offset would skip or repeat rows between pages, and costs O(offset). A
cursor is the last row's (sort value, request id), opaque to callers (base64url JSON).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from orchestrator.store._tables import request_system_outcomes, requests
from schemas.events import Channel, RequestKind
from schemas.status import TERMINAL_STATUSES, RequestStatus, SystemOutcome

__all__ = [
    "DENSE_OUTCOME_MATCHES",
    "InvalidCursor",
    "OutcomePlan",
    "RequestQuery",
    "SortField",
    "build_count",
    "build_outcome_probe",
    "build_select",
    "build_walk_probe",
    "decode_cursor",
    "encode_cursor",
]

MAX_PAGE = 1000
# More per-system outcome rows than this match the outcome filter: walk the list's order and
# check each request (OutcomePlan.SCAN) rather than fetch and sort every match (LOOKUP).
DENSE_OUTCOME_MATCHES = 2000
# How far down the list's order the desk looks for the page's matches before it scans for them.
WALK_PROBE_ROWS = 2000


class InvalidCursor(ValueError):
    """A cursor that this code did not produce (or one for another sort order)."""


class SortField(StrEnum):
    RECEIVED_AT = "received_at"
    DUE_AT = "due_at"
    UPDATED_AT = "updated_at"
    COMPLETED_AT = "completed_at"
    REQUEST_ID = "request_id"
    STATUS = "status"
    KIND = "kind"


class OutcomePlan(StrEnum):
    """How the outcome filter meets `requests` (chosen by the desk, `Desk._plan_outcome`, from
    two bounded probes; the result is the same either way).

    - LOOKUP: `request_id IN (matching ids)` — fetch each matching request, then sort: its cost
      grows with the number of matches, so it suits a rare outcome ("any system failed" in a
      healthy store).
    - SCAN: `EXISTS (this request's outcome)` — walk the list's own order and probe each row's
      outcomes by primary key, stopping at the page's end: its cost grows with how far the page
      reaches, so it suits an outcome common along the list's order ("billing retained" after
      years of erasures) — and not one that is common but far down it ("any system failed"
      sorted by completion: failures are open, so they come last).

    PostgreSQL plans both as the same semi-join and picks the order from its statistics; SQLite
    takes the form literally (IN drives from the matches, a correlated EXISTS never does), and
    at 100,000 requests the wrong one costs 60-1100 ms instead of 1-20 ms (bench/dpo_api.py)."""

    LOOKUP = "lookup"
    SCAN = "scan"


_NULLABLE_SORTS = {SortField.COMPLETED_AT}
_DATETIME_SORTS = {
    SortField.RECEIVED_AT,
    SortField.DUE_AT,
    SortField.UPDATED_AT,
    SortField.COMPLETED_AT,
}


class RequestQuery(BaseModel):
    """What the DPO asks the list for. Every filter is optional; all given ones must hold.

    `overdue`: past its (possibly extended) due moment and not finished. `system_outcome`:
    `failed` (any system failed) or `billing:failed` (that system). `now` pins the clock for
    `overdue` (tests, reports); default: the time of the query.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: tuple[RequestStatus, ...] = ()
    kind: tuple[RequestKind, ...] = ()
    channel: tuple[Channel, ...] = ()
    overdue: bool | None = None
    open_only: bool = False
    due_before: AwareDatetime | None = None
    due_after: AwareDatetime | None = None
    received_from: AwareDatetime | None = None
    received_before: AwareDatetime | None = None
    system_outcome: str | None = Field(default=None, pattern=r"^([a-z0-9_-]+:)?[a-z_]+$")
    request_id_prefix: str | None = Field(default=None, max_length=200)
    sort: SortField = SortField.RECEIVED_AT
    descending: bool = True
    limit: int | None = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = None
    now: AwareDatetime | None = None
    outcome_plan: OutcomePlan = OutcomePlan.LOOKUP

    @field_validator("system_outcome")
    @classmethod
    def _known_outcome(cls, value: str | None) -> str | None:
        if value is not None:
            outcome = value.rpartition(":")[2]
            if outcome not in {o.value for o in SystemOutcome}:
                known = ", ".join(o.value for o in SystemOutcome)
                raise ValueError(f"unknown system outcome {outcome!r}; one of {known}")
        return value

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)


def encode_cursor(query: RequestQuery, row: sa.RowMapping) -> str:
    value = row[query.sort.value]
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    document = [query.sort.value, query.descending, value, row["request_id"]]
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


_CURSOR_ID_MAX = 200
# The values a cursor may carry for each sort that is not a moment (the column's own values).
_VALUE_SETS: dict[SortField, frozenset[str]] = {
    SortField.STATUS: frozenset(s.value for s in RequestStatus),
    SortField.KIND: frozenset(k.value for k in RequestKind),
}


def _forged() -> InvalidCursor:
    return InvalidCursor("the cursor is not one this list produced")


def _plain_text(value: object) -> bool:
    """A string a database can take as a parameter, of a sane length: printable, so no NUL or
    other control character (PostgreSQL refuses them) and no lone surrogate (no driver can
    encode one)."""
    return isinstance(value, str) and 0 < len(value) <= _CURSOR_ID_MAX and value.isprintable()


def _moment(value: object) -> datetime:
    """A cursor's moment as `encode_cursor` writes it: an ISO time with an offset, within the
    range a datetime holds in UTC (a naive time would be compared as the database's local
    time, a bare date is no moment, and year 1 at +01:00 overflows converting to UTC)."""
    if not isinstance(value, str) or len(value) > 64:
        raise _forged()
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise _forged()
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise _forged() from exc


def decode_cursor(query: RequestQuery) -> tuple[Any, str] | None:
    """The (sort value, request id) a cursor holds, checked against the sort it is for:
    `InvalidCursor` for anything `encode_cursor` would not have written (a cursor is opaque but
    not trusted: it comes back from the caller, and a value of the wrong type or range is an
    error in the database driver, a 500, rather than a page)."""
    if not query.cursor:
        return None
    try:
        padded = query.cursor + "=" * (-len(query.cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, TypeError, RecursionError) as exc:
        raise _forged() from exc
    if not isinstance(document, list) or len(document) != 4:
        raise _forged()
    sort, descending, value, request_id = document
    if sort != query.sort.value or descending is not query.descending:
        raise InvalidCursor("the cursor belongs to another sort order")
    if not _plain_text(request_id):
        raise _forged()
    if value is None:
        if query.sort not in _NULLABLE_SORTS:
            raise _forged()
        return None, request_id
    if query.sort in _DATETIME_SORTS:
        return _moment(value), request_id
    if query.sort is SortField.REQUEST_ID:
        if value != request_id:
            raise _forged()
        return value, request_id
    if not isinstance(value, str) or value not in _VALUE_SETS[query.sort]:
        raise _forged()
    return value, request_id


def _outcome_match(query: RequestQuery) -> list[sa.ColumnElement[bool]]:
    system, _, outcome = (query.system_outcome or "").rpartition(":")
    outcomes = request_system_outcomes.c
    match = [outcomes.outcome == outcome]
    if system:
        match.append(outcomes.system == system)
    return match


def build_outcome_probe(query: RequestQuery, cap: int = DENSE_OUTCOME_MATCHES) -> sa.Select[Any]:
    """How many per-system outcome rows match the query's outcome filter, counting stops after
    `cap + 1` (an index-only range: under a millisecond): the plan of a count or a whole list."""
    matching = (
        sa.select(sa.literal(1))
        .select_from(request_system_outcomes)
        .where(*_outcome_match(query))
        .limit(cap + 1)
    )
    return sa.select(sa.func.count()).select_from(matching.subquery())


def build_walk_probe(query: RequestQuery, rows: int = WALK_PROBE_ROWS) -> sa.Select[Any]:
    """How many of the first `rows` requests of the page's own order (its other filters and its
    cursor applied) match the outcome filter: whether a SCAN finds the page within `rows` rows
    (bounded: `rows` steps of an index walk, each with a primary-key probe)."""
    unfiltered = query.model_copy(
        update={"system_outcome": None, "limit": rows - 1}  # build_select asks for limit + 1
    )
    walked = build_select(unfiltered).with_only_columns(requests.c.request_id).subquery("walked")
    outcomes = request_system_outcomes.c
    found = (
        sa.select(outcomes.request_id)
        .where(*_outcome_match(query), outcomes.request_id == walked.c.request_id)
        .exists()
    )
    return sa.select(sa.func.count()).select_from(walked).where(found)


def _conditions(query: RequestQuery) -> list[sa.ColumnElement[bool]]:
    c = requests.c
    where: list[sa.ColumnElement[bool]] = []
    terminal = [str(s) for s in TERMINAL_STATUSES]
    # "Open" as the statuses it is (IN), not NOT IN the finished ones: an index range per
    # status instead of a scan of them all.
    open_statuses = [str(s) for s in RequestStatus if s not in TERMINAL_STATUSES]
    if query.status:
        where.append(c.status.in_([str(s) for s in query.status]))
    if query.kind:
        where.append(c.kind.in_([str(k) for k in query.kind]))
    if query.channel:
        where.append(c.channel.in_([str(ch) for ch in query.channel]))
    if query.open_only:
        where.append(c.status.in_(open_statuses))
    if query.overdue is True:
        where.append(sa.and_(c.status.in_(open_statuses), c.due_at < query.clock()))
    elif query.overdue is False:
        where.append(sa.or_(c.status.in_(terminal), c.due_at >= query.clock()))
    if query.due_before is not None:
        where.append(c.due_at < query.due_before)
    if query.due_after is not None:
        where.append(c.due_at >= query.due_after)
    if query.received_from is not None:
        where.append(c.received_at >= query.received_from)
    if query.received_before is not None:
        where.append(c.received_at < query.received_before)
    if query.system_outcome:
        # A semi-join on the per-system outcomes (0005), the same SQL on both stores: the
        # planner either probes the outcome index for the few matching requests, or walks the
        # sort order and checks each row against the primary key, whichever is cheaper.
        outcomes = request_system_outcomes.c
        matching = sa.select(outcomes.request_id).where(*_outcome_match(query))
        if query.outcome_plan is OutcomePlan.SCAN:
            where.append(matching.where(outcomes.request_id == c.request_id).exists())
        else:
            where.append(c.request_id.in_(matching))
    if query.request_id_prefix:
        # A range on the primary key, not LIKE: both databases use the index for it.
        prefix = query.request_id_prefix
        where.append(sa.and_(c.request_id >= prefix, c.request_id < prefix + "\U0010ffff"))
    return where


def build_select(query: RequestQuery) -> sa.Select[Any]:
    """The page's SELECT: filters, the keyset condition of the cursor, order, limit (+1, so
    the caller knows whether there is a next page)."""
    column: sa.ColumnElement[Any] = requests.c[query.sort.value]
    tie: sa.ColumnElement[Any] = requests.c.request_id
    statement = sa.select(requests).where(*_conditions(query))
    after = decode_cursor(query)
    if after is not None:
        value, request_id = after
        if query.sort is SortField.REQUEST_ID:
            statement = statement.where(tie < request_id if query.descending else tie > request_id)
        elif value is None:
            # NULLs sort last in both directions here (see order below): only the tie remains.
            statement = statement.where(
                column.is_(None), tie < request_id if query.descending else tie > request_id
            )
        else:
            beyond = column < value if query.descending else column > value
            tied = sa.and_(
                column == value, tie < request_id if query.descending else tie > request_id
            )
            later = [beyond, tied]
            if query.sort in _NULLABLE_SORTS or query.request_id_prefix:
                # (A prefix narrows to a few rows by the primary key: a range on the sort
                # column would only tempt the planner to walk its index instead.)
                if query.sort in _NULLABLE_SORTS:
                    later.append(column.is_(None))  # NULLs come after every value
                statement = statement.where(sa.or_(*later))
            else:
                # The same condition, plus a plain range the database can seek an index with
                # (an OR alone makes SQLite scan from the start for every later page).
                bound = column <= value if query.descending else column >= value
                statement = statement.where(bound, sa.or_(*later))
    if query.system_outcome and query.outcome_plan is OutcomePlan.LOOKUP:
        # Every match first, then order and limit: OFFSET 0 keeps PostgreSQL from pushing the
        # LIMIT into the semi-join and walking the order index past thousands of non-matching
        # rows (it assumes the matches are spread evenly along the order; failures, say, are
        # all open and come last by completion). SQLite already does it this way.
        matching = statement.offset(0).subquery("matching")
        statement = sa.select(matching)
        column, tie = matching.c[query.sort.value], matching.c.request_id
    tie_order = tie.desc() if query.descending else tie.asc()
    if query.sort is SortField.REQUEST_ID:
        order = [tie_order]
    elif query.sort in _NULLABLE_SORTS:
        direction = column.desc() if query.descending else column.asc()
        order = [direction.nulls_last(), tie_order]
    else:  # plain ORDER BY on a NOT NULL column: SQLite walks the index for it
        order = [column.desc() if query.descending else column.asc(), tie_order]
    statement = statement.order_by(*order)
    if query.limit is not None:
        statement = statement.limit(query.limit + 1)
    return statement


def build_count(query: RequestQuery, cap: int | None = None) -> sa.Select[Any]:
    """How many requests match the filters (cursor and limit ignored); with `cap`, counting
    stops after `cap + 1` (a list says "1000+" rather than scan a whole store to be exact)."""
    if cap is None:
        return sa.select(sa.func.count()).select_from(requests).where(*_conditions(query))
    matching = sa.select(sa.literal(1)).select_from(requests).where(*_conditions(query))
    return sa.select(sa.func.count()).select_from(matching.limit(cap + 1).subquery())
