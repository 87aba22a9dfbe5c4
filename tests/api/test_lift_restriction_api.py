"""Lifting a restriction over HTTP and from the CLI, against the running desk (real worker, real
Temporal, the billing sandbox): the same front door as every decision. DPO only (403 for an
operator or auditor), 422 for a note with personal data (it is told to the subject), 200 with
`restriction: lifting`, then the request's document shows each system's result and billing's
own `restricted` column is cleared; a second lift is a 409. `dsr lift-restriction` takes the
same decision and `dsr status` shows the lift — and, before it, since when the restriction is
in force and how to lift it (its hold waits for the decision)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from aiokafka import AIOKafkaProducer

from tests.api.desk_stack import DeskStack, wait_for
from tests.api.test_api_decisions import post, state, submit
from tests.api.test_cli_desk import dsr

pytestmark = pytest.mark.integration
NOTE = "accuracy verified with the customer"


def _billing_flag(desk: DeskStack, customer_number: str) -> bool:
    path = desk.stack.env["DSR_BILLING_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        [(flag,)] = db.execute(
            "SELECT restricted FROM customers WHERE customer_number = ?", (customer_number,)
        ).fetchall()
    return bool(flag)


def _lift_state(desk: DeskStack, request_id: str, state_: str) -> dict:  # type: ignore[type-arg]
    seen: dict = {}  # type: ignore[type-arg]

    def reached() -> bool:
        with desk.client("auditor") as client:
            seen.update(client.get(f"/api/requests/{request_id}").json())
        lift = seen.get("restriction_lift") or {}
        # The record is written before the final status event is published, and the summary
        # follows that event: both must have arrived.
        summary = (seen.get("summary") or {}).get("restriction") or {}
        return (
            lift.get("state") == state_
            and bool(lift.get("systems"))
            and summary.get("state") == state_
        )

    wait_for(reached, 60, f"the lift of {request_id} {state_}")
    return seen


async def test_lift_over_http_dpo_only_once_and_really_lifted(
    desk: DeskStack, desk_producer: AIOKafkaProducer
) -> None:
    request_id, _, customer = await submit(desk, desk_producer, "restriction")
    view = await state(desk, request_id, "completed")
    assert view["allowed_decisions"] == ["lift_restriction"]
    assert view["restriction_lift"] is None
    # In force since the close, its lift held for the DPO's decision.
    assert view["restricted_since"] == view["summary"]["completed_at"]
    assert _billing_flag(desk, customer.customer_number)

    path = f"/api/requests/{request_id}/lift_restriction"
    assert post(desk, None, path, {"note": NOTE}).status_code == 401
    assert post(desk, "operator", path, {"note": NOTE}).status_code == 403
    assert post(desk, "auditor", path, {"note": NOTE}).status_code == 403
    leaky = post(desk, "dpo", path, {"note": f"confirmed with {customer.email}"})
    assert leaky.status_code == 422, leaky.text
    assert customer.email not in leaky.text
    assert post(desk, "dpo", path, {"note": " "}).status_code == 409  # a note says why

    accepted = post(desk, "dpo", path, {"note": NOTE})
    assert accepted.status_code == 200, accepted.text
    receipt = accepted.json()["receipt"]
    assert (receipt["decision"], receipt["restriction"]) == ("lift_restriction", "lifting")

    done = _lift_state(desk, request_id, "lifted")
    lift = done["restriction_lift"]
    assert lift["requested_by"] == "test-dpo" and lift["note"] == NOTE
    assert [(s["system"], s["outcome"]) for s in lift["systems"]] == [("billing", "done")]
    assert lift["tasks"] == []
    assert done["summary"]["status"] == "completed"
    assert done["summary"]["restriction"]["state"] == "lifted"
    assert done["allowed_decisions"] == []
    assert done["restricted_since"] is None
    assert not _billing_flag(desk, customer.customer_number)
    actions = [(e["action"], e["actor"]) for e in done["timeline"]]
    assert ("decision", "test-dpo") in actions and ("restriction_lifted", "workflow") in actions

    again = post(desk, "dpo", path, {"note": NOTE})
    assert again.status_code == 409 and "already lifted" in again.json()["detail"]


async def test_lift_from_the_cli_and_shown_by_dsr_status(
    desk: DeskStack, desk_producer: AIOKafkaProducer
) -> None:
    request_id, _, customer = await submit(desk, desk_producer, "restriction")
    await state(desk, request_id, "completed")
    held = dsr(desk, "status", request_id)
    assert held.returncode == 0, held.stderr
    assert "restricted since" in held.stdout and "lift with dsr lift-restriction" in held.stdout
    assert json.loads(dsr(desk, "status", request_id, "--json").stdout)["restricted_since"]
    refused = dsr(desk, "lift-restriction", request_id, "--actor", "dpo@company.se", "--note", "")
    assert refused.returncode == 1 and "needs a note" in refused.stderr

    lifted = dsr(desk, "lift-restriction", request_id, "--actor", "dpo@company.se", "--note", NOTE)
    assert lifted.returncode == 0, lifted.stderr
    assert "lift_restriction accepted" in lifted.stdout and "restriction lifting" in lifted.stdout
    _lift_state(desk, request_id, "lifted")
    assert not _billing_flag(desk, customer.customer_number)

    shown = dsr(desk, "status", request_id)
    assert shown.returncode == 0, shown.stderr
    assert "restriction: lifted by dpo@company.se" in shown.stdout
    assert "restricted since" not in shown.stdout
    document = json.loads(dsr(desk, "status", request_id, "--json").stdout)
    assert document["restriction"]["state"] == "lifted"
    assert document["restriction_lift"]["systems"][0]["outcome"] == "done"

    twice = dsr(desk, "lift-restriction", request_id, "--actor", "dpo@company.se", "--note", NOTE)
    assert twice.returncode == 1 and "already lifted" in twice.stderr
