"""Decisions at the edges, in process (tests/api/_inproc.py, a fake Temporal client): the
extension's months are a whole number (strictly, from JSON; ASCII digits, from a form); an id no
request can have is a 404 that reaches no workflow; Temporal unavailable, unreachable or silent
is a 503 (never a 500, never a wait without end); and a bulk decision reports every id, the ones
taken before a failure included."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.dpo import _common, _decide
from schemas.workflow import DecisionReceipt
from tests.api._inproc import (
    TOKENS,
    FakeTemporal,
    client,
    hang,
)


def _flash(location: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(location).query)
    return query["msg"][0], query["msg_kind"][0]


# ── 5. months ───────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("months", [True, "2", 2.0, "²", None, [2]])
async def test_an_extension_over_json_takes_a_whole_number_of_months(
    app: FastAPI, temporal: FakeTemporal, months: object
) -> None:
    async with client(app) as api:
        refused = await api.post(
            "/api/requests/seed-a07/extend", json={"months": months, "reason": "complex"}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"][-1] == "months"
        assert temporal.updates == []
        taken = await api.post(
            "/api/requests/seed-a07/extend", json={"months": 2, "reason": "complex"}
        )
    assert taken.status_code == 200, taken.text
    [update] = temporal.updates
    assert update.name == "extend" and update.arg.months == 2


@pytest.mark.parametrize("months", ["²", "٢", "2.5", "-1", "", "9" * 40])
async def test_a_hand_edited_months_field_is_a_form_error(
    app: FastAPI, temporal: FakeTemporal, months: str
) -> None:
    csrf = app.state.csrf.token_for(TOKENS["dpo"])
    async with client(app, None) as browser:
        browser.cookies.set("dsr_desk", TOKENS["dpo"])
        sent = await browser.post(
            "/requests/seed-a07/decide",
            data={"csrf": csrf, "decision": "extend", "months": months, "reason": "complex"},
        )
        assert sent.status_code == 303, sent.text
        message, kind = _flash(sent.headers["location"])
        assert kind == "error" and "extend rejected" in message and "months" in message
        page = await browser.get(sent.headers["location"])
        assert 'class="flash error"' in page.text
        ok = await browser.post(
            "/requests/seed-a07/decide",
            data={"csrf": csrf, "decision": "extend", "months": " 1 ", "reason": "complex"},
        )
    assert _flash(ok.headers["location"])[1] == "ok"
    assert [u.arg.months for u in temporal.updates if u.name == "extend"] == [1]


# ── 7. ids no request can have ──────────────────────────────────────────────────────────────
@pytest.mark.parametrize("request_id", ["seed%00x-01", "a" * 300, "short", "198112189876"])
async def test_an_impossible_id_is_a_404_that_reaches_no_workflow(
    app: FastAPI, temporal: FakeTemporal, request_id: str
) -> None:
    async with client(app) as api:
        for path in (f"/api/requests/{request_id}/approve", f"/api/requests/{request_id}"):
            response = (
                await api.post(path, json={}) if path.endswith("approve") else await api.get(path)
            )
            assert response.status_code == 404, (path, response.text)
        bulk = await api.post(
            "/api/requests/bulk/approve", json={"ids": [request_id.replace("%00", "\x00")]}
        )
    assert bulk.status_code == 200 and bulk.json()["results"][0]["accepted"] is False
    csrf = app.state.csrf.token_for(TOKENS["dpo"])
    async with client(app, None) as browser:
        browser.cookies.set("dsr_desk", TOKENS["dpo"])
        page = await browser.get(f"/requests/{request_id}")
        form = await browser.post(
            f"/requests/{request_id}/decide", data={"csrf": csrf, "decision": "approve"}
        )
    assert page.status_code == 404 and form.status_code == 404
    assert temporal.updates == []


# ── 9. Temporal unavailable, unreachable, silent ────────────────────────────────────────────
async def _unavailable(workflow_id: str) -> DecisionReceipt:
    raise RPCError("connection reset", RPCStatusCode.UNAVAILABLE, b"")


async def test_temporal_unavailable_is_a_503(app: FastAPI, temporal: FakeTemporal) -> None:
    temporal.answer = _unavailable
    async with client(app) as api:
        response = await api.post("/api/requests/seed-a07/approve", json={})
    assert response.status_code == 503, response.text
    assert "UNAVAILABLE" in response.json()["detail"]


async def test_temporal_unreachable_is_a_503(app: FastAPI, temporal: FakeTemporal) -> None:
    temporal.connect_error = RuntimeError("Failed client connect: connection refused")
    async with client(app) as api:
        response = await api.post("/api/requests/seed-a07/approve", json={})
    assert response.status_code == 503 and "not reachable" in response.json()["detail"]


async def test_a_decision_no_worker_answers_ends_in_a_503(
    app: FastAPI, temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    monkeypatch.setattr(_common, "DECISION_TIMEOUT", timedelta(seconds=0.2))  # send_update's
    temporal.answer = hang
    async with client(app) as api:
        response = await api.post("/api/requests/seed-a07/approve", json={})
    assert response.status_code == 503 and "did not answer" in response.json()["detail"]
    [update] = temporal.updates
    assert update.rpc_timeout == timedelta(seconds=0.2)  # each RPC has a deadline too


async def test_every_decision_has_an_rpc_deadline(app: FastAPI, temporal: FakeTemporal) -> None:
    async with client(app) as api:
        assert (await api.post("/api/requests/seed-a07/approve", json={})).status_code == 200
    assert temporal.updates[0].rpc_timeout == _decide.DECISION_TIMEOUT


async def test_a_bulk_decision_reports_every_id_when_temporal_fails_part_way(
    app: FastAPI, temporal: FakeTemporal
) -> None:
    async def answer(workflow_id: str) -> DecisionReceipt:
        if workflow_id.endswith("b"):
            raise RPCError("connection reset", RPCStatusCode.UNAVAILABLE, b"")
        return DecisionReceipt(request_id=workflow_id[4:], decision="approve", status="in_progress")

    temporal.answer = answer
    ids = ["req-000000a", "req-000000b", "req-000000c", "bad\x00id"]
    async with client(app) as api:
        response = await api.post("/api/requests/bulk/approve", json={"ids": ids})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 3
    results = {r["request_id"]: r for r in body["results"]}
    assert list(results) == ids
    assert results["req-000000a"]["accepted"] is True
    assert results["req-000000b"]["unavailable"] is True
    assert "UNAVAILABLE" in results["req-000000b"]["reason"]
    assert results["req-000000c"]["unavailable"] is True
    assert results["req-000000c"]["reason"].startswith("not sent")
    assert results["bad\x00id"]["reason"] == "no request has this id"
    # a decided, b tried; c was not sent once Temporal was unavailable, nor the impossible id
    assert [u.workflow_id for u in temporal.updates] == ["dsr-req-000000a", "dsr-req-000000b"]


async def test_a_bulk_decision_with_invalid_fields_sends_none(
    app: FastAPI, temporal: FakeTemporal
) -> None:
    async with client(app) as api:
        response = await api.post(
            "/api/requests/bulk/deny", json={"ids": ["req-000000a"], "reason_code": "bogus"}
        )
    assert response.status_code == 422 and temporal.updates == []


async def test_the_bulk_form_reports_back_to_a_filtered_list(
    app: FastAPI, temporal: FakeTemporal
) -> None:
    """The flash's parameters are not the list's: a message back to `?kind=erasure` shows."""
    temporal.answer = _unavailable
    csrf = app.state.csrf.token_for(TOKENS["dpo"])
    async with client(app, None) as browser:
        browser.cookies.set("dsr_desk", TOKENS["dpo"])
        sent = await browser.post(
            "/requests/bulk",
            data={
                "csrf": csrf,
                "decision": "approve",
                "ids": ["seed-a07", "seed-a06"],
                "back": "/requests?kind=erasure",
            },
        )
        assert sent.status_code == 303
        page = await browser.get(sent.headers["location"])
    assert page.status_code == 200, page.text
    flash = re.search(r'<p class="flash error"[^>]*>([^<]*)</p>', page.text)
    assert flash and "0 accepted, 2 rejected" in flash.group(1)
    assert len(temporal.updates) == 1  # the second was not sent


async def test_a_request_without_a_data_key_is_not_running(
    app: FastAPI, temporal: FakeTemporal
) -> None:
    """The decision is sealed with the request's data key (made when its workflow started):
    without one, no workflow takes it; a 409 like any request that is not running."""
    from orchestrator.codec import PayloadKeyMissing

    async def no_key(workflow_id: str) -> DecisionReceipt:
        raise PayloadKeyMissing(f"no data key for request {workflow_id[4:]!r}")

    temporal.answer = no_key
    async with client(app) as api:
        response = await api.post("/api/requests/seed-a06/retry_system", json={"system": "billing"})
    assert response.status_code == 409 and "not running" in response.json()["detail"]
