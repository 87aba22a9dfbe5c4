"""Decisions over HTTP against real workflows: 200 with the new state when the workflow accepts,
409 with its reason when it rejects (and nothing changes), 422 for a body that is no decision,
401/403 by token and role, bulk approve/deny; every decision audited with the token's name."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from policy.deadlines import deadline
from tests.api.desk_stack import DeskStack
from tests.integration.conftest import publish_signed, request_event

pytestmark = pytest.mark.integration


async def submit(
    desk: DeskStack,
    producer: AIOKafkaProducer,
    kind: str = "erasure",
    *,
    verified: bool = True,
    received_days_ago: float = 0.01,
) -> tuple[str, datetime, Any]:
    customer = desk.stack.fresh_customer()
    received = datetime.now(UTC) - timedelta(days=received_days_ago)
    document = request_event(kind, {"email": customer.email}, received_at=received.isoformat())
    if not verified:
        document["data"]["verification"] = {"method": "none", "verified_at": None}
    request_id = await publish_signed(producer, desk.stack, document)
    return request_id, received, customer


async def state(desk: DeskStack, request_id: str, *statuses: str, timeout: float = 60) -> dict:
    """Poll the API until the request is in one of `statuses` (a deadline, not a sleep)."""
    async with (
        httpx.AsyncClient(
            base_url=desk.base_url,
            headers={"Authorization": f"Bearer {desk.tokens['auditor']}"},
            timeout=30,
        ) as client,
        asyncio.timeout(timeout),
    ):
        while True:
            response = await client.get(f"/api/requests/{request_id}")
            if response.status_code == 200 and response.json()["summary"]["status"] in statuses:
                return response.json()
            await asyncio.sleep(0.2)


def post(desk: DeskStack, role: str | None, path: str, body: Any = None) -> httpx.Response:
    with desk.client(role) as client:
        return client.post(path, json=body if body is not None else {})


def test_decisions_need_a_token_and_a_role_that_may_take_them(desk: DeskStack) -> None:
    path = "/api/requests/seed-a07/approve"
    assert post(desk, None, path).status_code == 401
    assert post(desk, "auditor", path).status_code == 403
    assert post(desk, "operator", path).status_code == 403
    assert post(desk, "operator", "/api/requests/seed-a07/extend", {"months": 1}).status_code == 403
    assert post(desk, "operator", "/api/requests/bulk/approve", {"ids": ["x"]}).status_code == 403
    # An operator may retry a system: past the role check, the workflow has its say (none runs
    # behind a seeded request, so it is a conflict, not a permission problem).
    retry = post(desk, "operator", "/api/requests/seed-a06/retry_system", {"system": "billing"})
    assert retry.status_code == 409, retry.text
    assert post(desk, "dpo", "/api/requests/seed-a07/explode").status_code == 422


async def test_extend_confirm_and_every_rejection(
    desk: DeskStack, desk_producer: AIOKafkaProducer
) -> None:
    request_id, received, customer = await submit(
        desk, desk_producer, verified=False, received_days_ago=10
    )
    before = await state(desk, request_id, "awaiting_verification")
    base = f"/api/requests/{request_id}"

    invalid = post(desk, "dpo", f"{base}/extend", {"months": "two", "reason": "x"})
    assert invalid.status_code == 422
    for body, reason in (
        ({"months": 1}, "reason"),
        ({"months": 3, "reason": "too long"}, "1 or 2 months"),
    ):
        rejected = post(desk, "dpo", f"{base}/extend", body)
        assert rejected.status_code == 409 and reason in rejected.json()["detail"], rejected.text

    # The reason is published verbatim to the portal: personal data in it, or a novel, is
    # refused by the front door (422, the text never echoed), before the workflow sees it.
    for reason, found in (
        (f"waiting for {customer.email} to reply", "e-mail"),
        (f"called the subject on {customer.phone}", "phone"),
        (f"spoke to {customer.name} about the archive", "name"),
        ("two people share 19850101-1234", "personnummer"),
        ("x" * 501, "at most 500"),
    ):
        refused = post(desk, "dpo", f"{base}/extend", {"months": 1, "reason": reason})
        assert refused.status_code == 422, refused.text
        assert found in refused.text and reason not in refused.text
        assert refused.json()["detail"][0]["loc"][-1] == "reason"

    extended = post(desk, "dpo", f"{base}/extend", {"months": 1, "reason": "archived systems"})
    assert extended.status_code == 200, extended.text
    expected_day, _ = deadline(received, 2)
    assert extended.json()["receipt"]["due_date"] == expected_day.isoformat()
    view = extended.json()["request"]
    assert view["due_date"] == expected_day.isoformat() != before["due_date"]
    assert view["summary"]["extension"]["reason"] == "archived systems"
    assert "extend" not in view["allowed_decisions"]

    again = post(desk, "dpo", f"{base}/extend", {"months": 1, "reason": "more"})
    assert again.status_code == 409 and "already extended" in again.json()["detail"]
    assert post(desk, "dpo", f"{base}/deny", {"reason_code": "bogus"}).status_code == 422
    other = post(desk, "dpo", f"{base}/deny", {"reason_code": "other"})
    assert other.status_code == 409 and "note" in other.json()["detail"]
    # Every decision's free text is published (the request's or a system's reason), so each is
    # held to the same rule: refused with 422 at its own field, never echoed, nothing changed.
    for decision, body, field in (
        ("deny", {"reason_code": "other", "note": f"see {customer.email}"}, "note"),
        ("cancel", {"reason": f"{customer.name} withdrew it by phone"}, "reason"),
        ("skip_system", {"system": "billing", "reason": f"ring {customer.phone}"}, "reason"),
        (
            "resolve_system",
            {"system": "billing", "outcome": "done", "note": f"mailed {customer.email}"},
            "note",
        ),
        ("approve", {"note": "twin of 19850101-1234"}, "note"),
    ):
        refused = post(desk, "dpo", f"{base}/{decision}", body)
        assert refused.status_code == 422, (decision, refused.text)
        assert refused.json()["detail"][0]["loc"][-1] == field
        assert customer.email not in refused.text and customer.phone not in refused.text
    resolve = post(
        desk, "dpo", f"{base}/resolve_system", {"system": "billing", "outcome": "done", "note": "x"}
    )
    assert resolve.status_code == 409
    unchanged = await state(desk, request_id, "awaiting_verification")
    assert unchanged["due_date"] == expected_day.isoformat()  # rejections changed nothing

    confirmed = post(desk, "dpo", f"{base}/confirm_identity", {"method": "manual_check"})
    assert confirmed.status_code == 200, confirmed.text
    done = await state(desk, request_id, "completed")
    late = post(desk, "dpo", f"{base}/cancel", {"reason": "too late"})
    assert late.status_code == 409
    actors = {(e["action"], e["actor"]) for e in done["timeline"]}
    assert ("deadline_extended", "test-dpo") in actors
    assert any(action == "decision" and actor == "test-dpo" for action, actor in actors)


async def test_bulk_approve_and_deny_repeated_requests(
    desk: DeskStack, desk_producer: AIOKafkaProducer
) -> None:
    repeats = []
    for _ in range(2):
        first, _, customer = await submit(desk, desk_producer, "access")
        await state(desk, first, "completed")
        again = request_event("access", {"email": customer.email})
        repeats.append(await publish_signed(desk_producer, desk.stack, again))
    for request_id in repeats:
        await state(desk, request_id, "awaiting_decision")

    approve = post(desk, "dpo2", "/api/requests/bulk/approve", {"ids": [repeats[0], "seed-a01"]})
    assert approve.status_code == 200, approve.text
    body = approve.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert [r["request_id"] for r in body["results"]] == [repeats[0], "seed-a01"]
    deny = post(
        desk,
        "dpo",
        "/api/requests/bulk/deny",
        {"ids": [repeats[1]], "reason_code": "excessive", "note": "third copy this year"},
    )
    assert deny.status_code == 200 and deny.json()["accepted"] == 1, deny.text
    assert post(desk, "dpo", "/api/requests/bulk/cancel", {"ids": ["x"]}).status_code == 422
    assert post(desk, "dpo", "/api/requests/bulk/approve", {"ids": []}).status_code == 422

    approved = await state(desk, repeats[0], "completed")
    denied = await state(desk, repeats[1], "denied")
    assert any(
        d["decision"] == "approve" and d["actor"] == "test-dpo2"
        for d in approved["summary"]["decisions"]
    )
    [denial] = [d for d in denied["summary"]["decisions"] if d["decision"] == "deny"]
    assert denial["details"]["reason_code"] == "excessive" and denial["actor"] == "test-dpo"


async def test_a_scoped_erasure_waits_and_the_desk_shows_its_scope(
    desk: DeskStack, desk_producer: AIOKafkaProducer
) -> None:
    """The scope held the request (workflows/dsr.py, scope-gate-v1): the DPO reads it as the
    customer wrote it — in the API and on the page, escaped — then approves."""
    customer = desk.stack.fresh_customer()
    document = request_event("erasure", {"email": customer.email})
    purposes = ["direct marketing", "<b>profiling</b>"]
    document["data"]["scope"] = {"systems": ["billing"], "purposes": purposes}
    request_id = await publish_signed(desk_producer, desk.stack, document)
    waiting = await state(desk, request_id, "awaiting_decision")
    assert "2 purpose(s)" in waiting["summary"]["reason"]
    assert waiting["scope"] == {"systems": ["billing"], "purposes": purposes}
    with desk.client("auditor") as client:
        page = client.get(f"/requests/{request_id}")
    assert page.status_code == 200, page.text
    assert "&lt;b&gt;profiling&lt;/b&gt;" in page.text and "<b>profiling" not in page.text
    assert 'id="scope"' in page.text

    approved = post(desk, "dpo", f"/api/requests/{request_id}/approve", {"note": "all billing"})
    assert approved.status_code == 200, approved.text
    done = await state(desk, request_id, "completed")
    assert done["scope"] is None  # shown only while it is what the DPO decides on
