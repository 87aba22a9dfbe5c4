"""Decisions over HTTP: `POST /api/requests/{id}/{decision}` (one request) and
`POST /api/requests/bulk/{approve|deny}` (many), and the dashboard's decision forms.

Each is handed to the DPO front door (`orchestrator.dpo._decide`: a Temporal Update whose
validator is the arbiter). 200 with the new state when the workflow accepts it; 409 with the
workflow's reason when it rejects it (nothing changed); 422 when the body is not a valid
decision at all; 403 when the caller's role may not take it. The actor is always the token's
name, never something the body says.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.api._forms import may_decide
from orchestrator.api._security import any_role, require
from orchestrator.auth import Principal, Role
from orchestrator.dpo import DecisionRejected, Desk, RequestNotRunning, decide
from schemas.status import DecisionKind
from schemas.workflow import DecisionReceipt

__all__ = ["BulkDecision", "BulkResult", "dashboard_router", "router"]

router = APIRouter(prefix="/api", tags=["decisions"])
dashboard_router = APIRouter(include_in_schema=False)
BULK_DECISIONS = (DecisionKind.APPROVE, DecisionKind.DENY)


class DecisionResult(BaseModel):
    """An accepted decision: the workflow's receipt and the request as it stands now."""

    model_config = ConfigDict(frozen=True)

    receipt: DecisionReceipt
    request: dict[str, Any]


class BulkDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=500)
    reason_code: str | None = None
    note: str = ""


class BulkOutcome(BaseModel):
    request_id: str
    accepted: bool
    status: str | None = None
    reason: str | None = None


class BulkResult(BaseModel):
    accepted: int
    rejected: int
    results: list[BulkOutcome]


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _check_role(principal: Principal, decision: DecisionKind) -> None:
    if not may_decide(principal, decision.value):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the role {principal.role.value!r} may not {decision.value}",
        )


async def _decide(
    desk: Desk, request_id: str, decision: DecisionKind, body: dict[str, Any], actor: str
) -> DecisionReceipt:
    """Validate the body as the decision's model and hand it to the front door."""
    if desk.live_status is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Temporal is not configured")
    document = {k: v for k, v in body.items() if k != "actor"} | {"actor": actor}
    client = await desk.live_status.client()
    try:
        return await decide(client, request_id, decision, document)
    except ValidationError as exc:
        detail = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail) from None
    except DecisionRejected as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except RequestNotRunning as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


async def _bulk(desk: Desk, decision: DecisionKind, bulk: BulkDecision, actor: str) -> BulkResult:
    results: list[BulkOutcome] = []
    fields: dict[str, Any] = {"note": bulk.note}
    if decision is DecisionKind.DENY:
        fields["reason_code"] = bulk.reason_code
    for request_id in dict.fromkeys(bulk.ids):  # once each, in the order given
        try:
            receipt = await _decide(desk, request_id, decision, fields, actor)
            results.append(
                BulkOutcome(request_id=request_id, accepted=True, status=receipt.status.value)
            )
        except HTTPException as exc:
            if exc.status_code == status.HTTP_422_UNPROCESSABLE_ENTITY:
                raise
            results.append(BulkOutcome(request_id=request_id, accepted=False, reason=exc.detail))
    accepted = sum(r.accepted for r in results)
    return BulkResult(accepted=accepted, rejected=len(results) - accepted, results=results)


@router.post("/requests/bulk/{decision}", response_model=BulkResult)
async def post_bulk(
    decision: DecisionKind,
    bulk: BulkDecision,
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.DPO))],
) -> BulkResult:
    """Approve or deny many requests; each is decided on its own (one rejection stops none)."""
    if decision not in BULK_DECISIONS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "bulk is approve or deny")
    return await _bulk(_desk(request), decision, bulk, principal.name)


@router.post("/requests/{request_id}/{decision}", response_model=DecisionResult)
async def post_decision(
    request_id: str,
    decision: DecisionKind,
    request: Request,
    principal: Annotated[Principal, Depends(any_role)],
    body: Annotated[dict[str, Any], Body(default_factory=dict)],
) -> DecisionResult:
    """Take one decision on a request (body: the decision's fields, e.g. extend
    `{"months": 2, "reason": "..."}`, deny `{"reason_code": "excessive", "note": "..."}`)."""
    _check_role(principal, decision)
    desk = _desk(request)
    receipt = await _decide(desk, request_id, decision, body, principal.name)
    view = await desk.get_request(request_id)
    return DecisionResult(
        receipt=receipt, request=view.model_dump(mode="json") if view is not None else {}
    )


# ── the dashboard's forms ───────────────────────────────────────────────────────────────────
def _form_body(decision: DecisionKind, form: dict[str, str]) -> dict[str, Any]:
    """A decision form's fields as the decision's JSON body."""
    body: dict[str, Any] = {k: v for k, v in form.items() if k not in ("csrf", "decision")}
    if decision is DecisionKind.NARROW_SUBJECT:
        body = {
            "identifier": {
                "type": body.pop("identifier_type", ""),
                "value": body.pop("identifier_value", "").strip(),
            }
        }
    if decision is DecisionKind.EXTEND and "months" in body:
        body["months"] = int(body["months"]) if str(body["months"]).isdigit() else body["months"]
    return body


def _back(path: str, message: str, *, error: bool = False) -> Response:
    query = urlencode({"msg": message, **({"kind": "error"} if error else {})})
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}{query}", status_code=303)


@dashboard_router.post("/requests/{request_id}/decide")
async def decide_form(
    request_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(any_role)],
) -> Response:
    from orchestrator.api._dashboard import check_csrf

    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    try:
        decision = DecisionKind(form.get("decision", ""))
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "unknown decision") from None
    _check_role(principal, decision)
    page = f"/requests/{request_id}"
    try:
        receipt = await _decide(
            _desk(request), request_id, decision, _form_body(decision, form), principal.name
        )
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_409_CONFLICT, status.HTTP_422_UNPROCESSABLE_ENTITY):
            return _back(page, f"{decision.value} rejected: {_plain(exc.detail)}", error=True)
        raise
    return _back(page, f"{decision.value} accepted: the request is {receipt.status.value}")


def _plain(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
    return str(detail)


@dashboard_router.post("/requests/bulk")
async def bulk_form(
    request: Request, principal: Annotated[Principal, Depends(require(Role.DPO))]
) -> Response:
    from orchestrator.api._dashboard import check_csrf

    form = await request.form()
    check_csrf(request, str(form.get("csrf") or ""))
    back = str(form.get("back") or "/requests")
    back = back if back.startswith("/requests") else "/requests"
    ids = [str(v) for v in form.getlist("ids")]
    if not ids:
        return _back(back, "select at least one request", error=True)
    try:
        decision = DecisionKind(str(form.get("decision")))
        bulk = BulkDecision(
            ids=ids,
            reason_code=str(form.get("reason_code") or "") or None,
            note=str(form.get("note") or ""),
        )
    except (ValueError, ValidationError):
        return _back(back, "not a valid bulk decision", error=True)
    if decision not in BULK_DECISIONS:
        return _back(back, "bulk is approve or deny", error=True)
    try:
        result = await _bulk(_desk(request), decision, bulk, principal.name)
    except HTTPException as exc:
        return _back(back, f"{decision.value} rejected: {_plain(exc.detail)}", error=True)
    rejected = "; ".join(f"{r.request_id}: {r.reason}" for r in result.results if not r.accepted)
    message = f"{decision.value}: {result.accepted} accepted, {result.rejected} rejected"
    return _back(back, message + (f" ({rejected})" if rejected else ""), error=bool(rejected))
