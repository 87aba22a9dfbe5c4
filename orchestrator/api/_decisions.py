"""Decisions over HTTP: `POST /api/requests/{id}/{decision}` (one request) and
`POST /api/requests/bulk/{approve|deny}` (many), and the dashboard's decision forms.

Each is handed to the DPO front door (`orchestrator.dpo._decide`: a Temporal Update whose
validator is the arbiter). 200 with the new state when the workflow accepts it; 409 with the
workflow's reason when it rejects it (nothing changed); 422 when the body is not a valid
decision at all; 403 when the caller's role may not take it; 404 for an id no request can have;
503 when Temporal is unreachable or the workflow does not answer in time. The actor is always
the token's name, never something the body says.

The JSON routes take the bearer header only and a JSON body only (415 otherwise): the dashboard's
session cookie would let any page a DPO visits post a decision there (an empty text/plain form
needs no preflight); the dashboard's own forms post to its routes below, which check the form's
CSRF token.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.api._filters import known_request_id
from orchestrator.api._flash import flash_url
from orchestrator.api._forms import may_decide
from orchestrator.api._security import READ_ROLES, any_role, require, require_bearer
from orchestrator.auth import Principal, Role
from orchestrator.dpo import (
    DecisionRejected,
    DecisionUnavailable,
    Desk,
    RequestNotRunning,
    decide,
    decision_client,
)
from orchestrator.dpo._decide import validate_decision
from orchestrator.logging import get_logger
from schemas.events import is_valid_request_id
from schemas.status import DecisionKind
from schemas.workflow import DecisionReceipt

__all__ = ["BulkDecision", "BulkResult", "dashboard_router", "router"]

router = APIRouter(prefix="/api", tags=["decisions"])
dashboard_router = APIRouter(include_in_schema=False)
BULK_DECISIONS = (DecisionKind.APPROVE, DecisionKind.DENY)
log = get_logger(__name__)
_MONTHS = re.compile(r"[0-9]{1,3}")


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
    unavailable: bool = Field(
        default=False, description="not decided because Temporal was unavailable: try again"
    )


class BulkResult(BaseModel):
    accepted: int
    rejected: int
    results: list[BulkOutcome]


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def json_body_only(request: Request) -> None:
    """415 unless the body is JSON (`application/json` or `application/*+json`); no body at all
    is the empty decision. A browser posts other types cross-site without asking first."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    empty = request.headers.get("content-length", "0") == "0"
    if not media and empty and "transfer-encoding" not in request.headers:
        return
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "a decision's body is JSON (application/json)"
    )


JsonBody = Annotated[None, Depends(json_body_only)]


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
    document = _document(body, actor)
    try:
        client = await decision_client(desk.live_status)
        return await decide(client, request_id, decision, document)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, _errors(exc)) from None
    except (DecisionRejected, RequestNotRunning) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except DecisionUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


def _document(body: dict[str, Any], actor: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "actor"} | {"actor": actor}


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


async def _bulk(desk: Desk, decision: DecisionKind, bulk: BulkDecision, actor: str) -> BulkResult:
    """Each id decided on its own, and every id has its result: one refusal stops none, and a
    failure part-way never hides the decisions already taken. The fields are the same for
    every id, so they are validated once, before any is sent (422: none was). Once Temporal
    is unavailable the rest are not sent (each would wait for it in vain) and say so."""
    fields: dict[str, Any] = {"note": bulk.note}
    if decision is DecisionKind.DENY:
        fields["reason_code"] = bulk.reason_code
    try:
        validate_decision(decision, _document(fields, actor))
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, _errors(exc)) from None
    results: list[BulkOutcome] = []
    unavailable: str | None = None
    for request_id in dict.fromkeys(bulk.ids):  # once each, in the order given
        results.append(await _bulk_one(desk, request_id, decision, fields, actor, unavailable))
        if results[-1].unavailable:
            unavailable = unavailable or results[-1].reason
    accepted = sum(r.accepted for r in results)
    return BulkResult(accepted=accepted, rejected=len(results) - accepted, results=results)


async def _bulk_one(
    desk: Desk,
    request_id: str,
    decision: DecisionKind,
    fields: dict[str, Any],
    actor: str,
    unavailable: str | None,
) -> BulkOutcome:
    if not is_valid_request_id(request_id):
        return BulkOutcome(request_id=request_id, accepted=False, reason="no request has this id")
    if unavailable is not None:
        return BulkOutcome(
            request_id=request_id,
            accepted=False,
            unavailable=True,
            reason=f"not sent: {unavailable}",
        )
    try:
        receipt = await _decide(desk, request_id, decision, fields, actor)
    except HTTPException as exc:
        return BulkOutcome(
            request_id=request_id,
            accepted=False,
            unavailable=exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE,
            reason=_plain(exc.detail),
        )
    except Exception as exc:  # the ids decided before it must still be reported
        # By type only, like every log line of the desk (a traceback's locals hold the body).
        log.error("bulk decision failed", decision=decision.value, error_type=type(exc).__name__)
        return BulkOutcome(
            request_id=request_id,
            accepted=False,
            reason=f"not decided: an unexpected error ({type(exc).__name__})",
        )
    return BulkOutcome(request_id=request_id, accepted=True, status=receipt.status.value)


@router.post("/requests/bulk/{decision}", response_model=BulkResult)
async def post_bulk(
    decision: DecisionKind,
    bulk: BulkDecision,
    request: Request,
    principal: Annotated[Principal, Depends(require_bearer(Role.DPO))],
    _json: JsonBody,
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
    principal: Annotated[Principal, Depends(require_bearer(*READ_ROLES))],
    _json: JsonBody,
    body: Annotated[dict[str, Any], Body(default_factory=dict)],
) -> DecisionResult:
    """Take one decision on a request (body: the decision's fields, e.g. extend
    `{"months": 2, "reason": "..."}`, deny `{"reason_code": "excessive", "note": "..."}`)."""
    _check_role(principal, decision)
    known_request_id(request_id)
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
        # Only ASCII digits are a number here ("²".isdigit() is true, and int() refuses it);
        # anything else stays text, which the decision's model refuses: a 422 at `months`.
        months = str(body["months"]).strip()
        body["months"] = int(months) if _MONTHS.fullmatch(months) else body["months"]
    return body


def _back(request: Request, path: str, message: str, *, error: bool = False) -> Response:
    return RedirectResponse(flash_url(request, path, message, error=error), status_code=303)


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
    known_request_id(request_id)
    page = f"/requests/{request_id}"
    try:
        receipt = await _decide(
            _desk(request), request_id, decision, _form_body(decision, form), principal.name
        )
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_409_CONFLICT, status.HTTP_422_UNPROCESSABLE_ENTITY):
            message = f"{decision.value} rejected: {_plain(exc.detail)}"
            return _back(request, page, message, error=True)
        if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            message = f"{decision.value} not taken: {_plain(exc.detail)}"
            return _back(request, page, message, error=True)
        raise
    message = f"{decision.value} accepted: the request is {receipt.status.value}"
    return _back(request, page, message)


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
        return _back(request, back, "select at least one request", error=True)
    try:
        decision = DecisionKind(str(form.get("decision")))
        bulk = BulkDecision(
            ids=ids,
            reason_code=str(form.get("reason_code") or "") or None,
            note=str(form.get("note") or ""),
        )
    except (ValueError, ValidationError):
        return _back(request, back, "not a valid bulk decision", error=True)
    if decision not in BULK_DECISIONS:
        return _back(request, back, "bulk is approve or deny", error=True)
    try:
        result = await _bulk(_desk(request), decision, bulk, principal.name)
    except HTTPException as exc:
        message = f"{decision.value} rejected: {_plain(exc.detail)}"
        return _back(request, back, message, error=True)
    rejected = "; ".join(f"{r.request_id}: {r.reason}" for r in result.results if not r.accepted)
    message = f"{decision.value}: {result.accepted} accepted, {result.rejected} rejected"
    return _back(
        request, back, message + (f" ({rejected})" if rejected else ""), error=bool(rejected)
    )
