"""The dashboard: server-rendered pages over the DPO front door (no build step, no CDN).

Login puts the token in an HttpOnly, SameSite=Strict cookie; every form carries a CSRF token
bound to that session (see `_security`). Pages show pseudonymous request data only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orchestrator.api._filters import ListFilters, known_request_id, list_filters
from orchestrator.api._flash import flash_of, flash_url
from orchestrator.api._forms import DENY_CODES, decision_forms
from orchestrator.api._render import report_html, templates
from orchestrator.api._security import (
    COOKIE_NAME,
    LOGIN_CSRF_COOKIE,
    Csrf,
    any_role,
    cookie_secure,
    presented_token,
    require,
    same_secret,
)
from orchestrator.auth import Principal, Role, TokenVerifier
from orchestrator.dpo import (
    AmbiguityView,
    Desk,
    NotAmbiguous,
    RequestQuery,
    SortField,
    due_this_week,
    identifiers_for_ambiguity,
    query_from_filters,
)
from orchestrator.dpo._read import LOCAL_ZONE, month_bounds
from schemas.events import Channel, RequestKind
from schemas.status import RequestStatus, SystemOutcome

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(any_role)]
dpo_only = require(Role.DPO)
SESSION_SECONDS = 8 * 3600
_COLUMNS = [
    ("request", "request_id"),
    ("kind", "kind"),
    ("channel", None),
    ("status", "status"),
    ("received", "received_at"),
    ("due", "due_at"),
    ("deadline", None),
    ("systems", None),
]


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _csrf(request: Request) -> Csrf:
    csrf: Csrf = request.app.state.csrf
    return csrf


def _this_month() -> str:
    return f"{datetime.now(UTC).astimezone(LOCAL_ZONE):%Y-%m}"


def render(request: Request, name: str, principal: Principal | None, **context: Any) -> str:
    token, _ = presented_token(request)
    csrf = _csrf(request).token_for(token) if token and principal else ""
    flash = flash_of(request)
    return templates.get_template(name).render(
        principal=principal,
        csrf=csrf,
        this_month=_this_month(),
        message=flash.message if flash else None,
        message_kind=flash.kind if flash else None,
        **context,
    )


def check_csrf(request: Request, presented: str | None) -> None:
    token, source = presented_token(request)
    if source != "cookie" or not token or not _csrf(request).check(token, presented):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or wrong")


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no `//host`): no open redirect after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ── login ─────────────────────────────────────────────────────────────────────────────────────
@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    login_csrf = Csrf().token_for("login")  # a fresh random value, bound by the cookie below
    flash = flash_of(request)
    response = HTMLResponse(
        templates.get_template("login.html").render(
            principal=None,
            login_csrf=login_csrf,
            next=_safe_next(next),
            message=flash.message if flash else None,
            message_kind=flash.kind if flash else None,
        )
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        login_csrf,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        max_age=3600,
        path="/login",
    )
    return response


@router.post("/login")
async def login(
    request: Request,
    token: Annotated[str, Form(max_length=512)],
    csrf: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not same_secret(request.cookies.get(LOGIN_CSRF_COOKIE) or "", csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the login form's CSRF token is wrong")
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(token.strip())
    if principal is None:
        again = flash_url(request, "/login", "That token is not valid.", error=True, next=next)
        return RedirectResponse(again, status_code=303)
    secure = cookie_secure(request)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=secure,
        max_age=SESSION_SECONDS,
        path="/",
    )
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path="/login", secure=secure, httponly=True, samesite="strict"
    )
    return response


@router.post("/logout")
async def logout(
    request: Request, _: Viewer, csrf: Annotated[str, Form(max_length=128)]
) -> Response:
    check_csrf(request, csrf)
    response = RedirectResponse(flash_url(request, "/login", "Logged out."), status_code=303)
    response.delete_cookie(
        COOKIE_NAME, path="/", secure=cookie_secure(request), httponly=True, samesite="strict"
    )
    return response


# ── pages ─────────────────────────────────────────────────────────────────────────────────────
@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request, principal: Viewer) -> str:
    desk = _desk(request)
    now = datetime.now(UTC)
    due_soon = due_this_week(now)  # the count, this section and the card's link: one filter
    sections = [
        (
            "Overdue",
            "overdue",
            await desk.list_requests(
                RequestQuery(overdue=True, sort=SortField.DUE_AT, descending=False, limit=10)
            ),
        ),
        (
            "Due this week",
            "due-this-week",
            await desk.list_requests(
                query_from_filters(
                    **due_soon, sort=SortField.DUE_AT, descending=False, limit=10, now=now
                )
            ),
        ),
        (
            "Needs attention",
            "needs-attention",
            await desk.list_requests(
                RequestQuery(status=(RequestStatus.NEEDS_ATTENTION,), limit=10)
            ),
        ),
        (
            "Awaiting a decision",
            "awaiting-decision",
            await desk.list_requests(
                RequestQuery(status=(RequestStatus.AWAITING_DECISION,), limit=10)
            ),
        ),
    ]
    return render(
        request,
        "overview.html",
        principal,
        nav="overview",
        overview=await desk.overview(now),
        sections=sections,
        due_this_week_link=_query_string(
            {**_as_params(due_soon), "sort": SortField.DUE_AT.value, "order": "asc"}
        ),
    )


def _as_params(filters: dict[str, object]) -> dict[str, object]:
    """The list's filters as the query parameters of /requests (`_filters.list_filters`)."""
    return {
        name: str(value).lower()
        if isinstance(value, bool)
        else value.isoformat()
        if isinstance(value, date)
        else value
        for name, value in filters.items()
    }


def _query_string(params: dict[str, object]) -> str:
    return urlencode(params, doseq=True)


@router.get("/requests", response_class=HTMLResponse)
async def requests_page(
    request: Request,
    principal: Viewer,
    filters: Annotated[ListFilters, Depends(list_filters)],
) -> str:
    from orchestrator.store._queries import InvalidCursor

    try:
        page = await _desk(request).list_requests(filters.query())
    except InvalidCursor as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    sort_links = {}
    for _, field in _COLUMNS:
        if field:
            order = "asc" if filters.sort.value == field and filters.order == "desc" else "desc"
            sort_links[field] = _query_string(filters.params(sort=field, order=order))
    return render(
        request,
        "requests.html",
        principal,
        nav="requests",
        page=page,
        filters=filters,
        statuses=[s.value for s in RequestStatus],
        kinds=[k.value for k in RequestKind],
        channels=[c.value for c in Channel],
        outcomes=[o.value for o in SystemOutcome],
        sorts=[f.value for f in SortField],
        selected_status={s.value for s in filters.status},
        selected_kind={k.value for k in filters.kind},
        selected_channel={c.value for c in filters.channel},
        columns=_COLUMNS,
        sort_links=sort_links,
        query_string=_query_string(filters.params()),
        next_link=_query_string(filters.params(cursor=page.next_cursor)),
        first_link=_query_string(filters.params()),
        back="/requests?" + _query_string(filters.params(cursor=filters.cursor)),
        can_bulk=principal.has_role(Role.DPO),
        deny_codes=DENY_CODES,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
async def request_page(request: Request, request_id: str, principal: Viewer) -> str:
    view = await _desk(request).get_request(known_request_id(request_id))
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no request {request_id!r}")
    summary = view.summary
    document = summary.model_dump(mode="json")
    # The policy's plan is kept with the completion record (the workflow's state until then).
    plan = view.record.plan.model_dump(mode="json") if view.record and view.record.plan else {}
    actions = [a for system in plan.get("systems", []) for a in system.get("actions", [])]
    return render(
        request,
        "request.html",
        principal,
        nav="requests",
        view=view,
        s=summary,
        extension=document.get("extension"),
        package=summary.package if hasattr(summary, "package") else None,
        package_reference=getattr(getattr(summary, "package", None), "reference", ""),
        plan=actions,
        decisions=decision_forms(view, principal),
        can_view_identifiers=principal.has_role(Role.DPO)
        and "narrow_subject" in view.allowed_decisions,
    )


@router.get("/charts", response_class=HTMLResponse)
async def charts_page(request: Request, principal: Viewer) -> str:
    charts = await _desk(request).charts()
    return render(request, "charts.html", principal, nav="charts", charts=charts.model_dump())


def _neighbour(month: str, step: int) -> str:
    start, end = month_bounds(month)
    moment = end if step > 0 else start - timedelta(days=1)
    return f"{moment:%Y-%m}"


@router.get("/reports/{month}", response_class=HTMLResponse)
async def report_page(request: Request, month: str, principal: Viewer) -> str:
    try:
        report = await _desk(request).monthly_report(month)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    token, _ = presented_token(request)
    return report_html(
        report,
        standalone=False,
        principal=principal,
        csrf=_csrf(request).token_for(token or ""),
        this_month=_this_month(),
        nav="report",
        previous_month=_neighbour(month, -1),
        next_month=_neighbour(month, 1),
    )


@router.get("/requests/{request_id}/identifiers", response_class=HTMLResponse)
async def ambiguity_page(
    request: Request, request_id: str, principal: Annotated[Principal, Depends(dpo_only)]
) -> str:
    """The audited view of the identifiers behind an ambiguous match (DPO only)."""
    view = await _ambiguity(request, request_id, principal)
    return render(request, "ambiguity.html", principal, nav="requests", view=view)


async def _ambiguity(request: Request, request_id: str, principal: Principal) -> AmbiguityView:
    try:
        return await identifiers_for_ambiguity(
            _desk(request), known_request_id(request_id), principal.name
        )
    except NotAmbiguous:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{request_id} is not held on an ambiguous match: there are no identifiers to show",
        ) from None
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no request {request_id!r}") from None
