"""The JSON API under /api: the list (filters, sort, cursor; CSV twin), one request, the
overview, the chart series, the monthly report (JSON / CSV / HTML). Decisions are in
`_decisions`. Every route reads through the DPO front door (`orchestrator.dpo`): no logic here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from orchestrator.api._filters import ListFilters, known_request_id, list_filters
from orchestrator.api._render import (
    LIST_CSV_COLUMNS,
    csv_text,
    list_csv_rows,
    report_csv,
    report_html,
)
from orchestrator.api._security import Reader, require
from orchestrator.auth import Principal, Role
from orchestrator.dpo import (
    AmbiguityView,
    AuditNotVerifiable,
    ChartSeries,
    Desk,
    MonthlyReport,
    Overview,
    RequestPage,
    RequestView,
    verify_audit,
)
from orchestrator.store._queries import InvalidCursor

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["desk"])
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CSV_PAGE = 1000


def desk_of(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


DeskDep = Annotated[Desk, Depends(desk_of)]
Filters = Annotated[ListFilters, Depends(list_filters)]


@router.get("/requests", response_model=RequestPage)
async def list_requests(_: Reader, desk: DeskDep, filters: Filters) -> RequestPage:
    """Requests matching the filters, sorted, one page at a time (`next_cursor` → `cursor`)."""
    try:
        return await desk.list_requests(filters.query())
    except InvalidCursor as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None


@router.get("/requests.csv", response_class=PlainTextResponse)
async def list_requests_csv(_: Reader, desk: DeskDep, filters: Filters) -> Response:
    """The filtered list as CSV (every matching request, in the list's order)."""
    first = filters.query(limit=_CSV_PAGE)  # a bad filter is a 422 here, not a broken stream

    async def rows() -> AsyncIterator[str]:
        yield csv_text([LIST_CSV_COLUMNS])
        cursor: str | None = None
        while True:
            query = first.model_copy(update={"cursor": cursor})
            page = await desk.list_requests(query)
            yield csv_text(list_csv_rows(page.items))
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="requests.csv"'},
    )


@router.get("/requests/{request_id}", response_model=RequestView)
async def get_request(request_id: str, _: Reader, desk: DeskDep) -> RequestView:
    """One request: plan, per-system outcomes, retained items, recipients, decisions, the audit
    timeline, and the decisions its workflow currently accepts."""
    view = await desk.get_request(known_request_id(request_id))
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no request {request_id!r}")
    return view


@router.get("/requests/{request_id}/identifiers", response_model=AmbiguityView)
async def ambiguity_identifiers(
    request_id: str, request: Request, principal: Annotated[Principal, Depends(require(Role.DPO))]
) -> AmbiguityView:
    """DPO only, audited: the identifiers behind an ambiguous match (personal data), so the DPO
    can establish who the subject is and `narrow_subject`. 409 unless the request is held."""
    from orchestrator.api._dashboard import _ambiguity

    return await _ambiguity(request, request_id, principal)


@router.get("/overview", response_model=Overview)
async def overview(_: Reader, desk: DeskDep) -> Overview:
    return await desk.overview()


@router.get("/charts", response_model=ChartSeries)
async def charts(
    _: Reader,
    desk: DeskDep,
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
    months: Annotated[int, Query(ge=1, le=36)] = 6,
) -> ChartSeries:
    return await desk.charts(weeks=weeks, months=months)


def _wants(request: Request, explicit: str | None) -> str:
    if explicit:
        return explicit
    accept = request.headers.get("accept", "")
    if "text/csv" in accept:
        return "csv"
    if "text/html" in accept and "application/json" not in accept:
        return "html"
    return "json"


@router.get(
    "/reports/{month}",
    response_model=MonthlyReport,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
async def monthly_report(
    month: str,
    request: Request,
    _: Reader,
    desk: DeskDep,
    format: Annotated[
        Literal["json", "csv", "html"] | None, Query(description="default: from Accept")
    ] = None,
) -> Response | MonthlyReport:
    """The month's compliance figures (requests received in that month, Stockholm time)."""
    if not _MONTH.match(month):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "month must be YYYY-MM")
    try:
        report = await desk.monthly_report(month)
    except ValueError as exc:  # a month no stored time can fall in (orchestrator.dpo)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    wanted = _wants(request, format)
    if wanted == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="dsr-report-{month}.csv"'},
        )
    if wanted == "html":
        return HTMLResponse(report_html(report, standalone=True))
    return report


@router.get("/audit/verify", tags=["audit"])
async def audit_verify(
    request: Request,
    _: Annotated[Principal, Depends(require(Role.AUDITOR, Role.DPO))],
    checkpoints: bool = True,
) -> Response:
    """Recompute the audit hash chain (globally and per request) and check it against the signed
    checkpoints published on Kafka — what `dsr audit verify` does (orchestrator.dpo's
    `verify_audit`). 200 when intact; 409 with the first broken position when not; 503 with
    the reason when the checkpoints cannot be checked (no key, the topic unreachable): never
    an `ok` that did not check what was asked (`checkpoints=false` checks the chain alone)."""
    from fastapi.responses import JSONResponse

    try:
        report = await verify_audit(
            desk_of(request).store, request.app.state.settings, checkpoints=checkpoints
        )
    except AuditNotVerifiable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return JSONResponse(report.model_dump(mode="json"), status_code=200 if report.ok else 409)
