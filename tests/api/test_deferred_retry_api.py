"""A failed deferred erasure tried again now, over HTTP and from the CLI, against the running desk
(real worker, real Temporal): the same front door as every decision. The chain is started as
the worker starts one when a request closes, for a request the desk completed; its only system
(hosting) is not deployed on this desk (DSR_CONNECTORS=billing), so every attempt fails with "no
such connector any more" and is retried in an hour — the case a DPO fixes (deploys it) and
then asks for the attempt now.

Checked: the request page offers `retry_deferred_erasure` while a date is retrying; an operator
may take it, an auditor may not (403); a note with personal data is refused (422); an accepted
retry is in the request's decisions (who, why) and brings the next attempt at once, not in an
hour; `dsr retry-deferred-erasure` does the same; a request with no chain is a 409 / exit 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from schemas.plan import PlanAction, PlannedAction, RetainedGroup
from tests.api.desk_stack import DeskStack, wait_for
from tests.api.test_api_decisions import post, state, submit
from tests.api.test_cli_desk import dsr
from workflows.follow_up import (
    DeferredErasureInput,
    DeferredErasureWorkflow,
    follow_up_workflow_id,
)

pytestmark = pytest.mark.integration
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _view(desk: DeskStack, request_id: str) -> dict[str, Any]:
    with desk.client("auditor") as client:
        response = client.get(f"/api/requests/{request_id}")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _attempts(desk: DeskStack, request_id: str, attempt: int) -> dict[str, Any]:
    """The request's document once its deferred erasure's latest attempt is `attempt`."""
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.clear()
        seen.update(_view(desk, request_id))
        follow_ups = seen.get("follow_ups") or []
        return bool(follow_ups) and follow_ups[0]["attempt"] == attempt

    wait_for(reached, 60, f"attempt {attempt} of the deferred erasure of {request_id}")
    return seen


async def test_retry_a_failing_deferred_erasure_over_http_and_from_the_cli(
    desk: DeskStack, desk_producer: AIOKafkaProducer, desk_temporal: Client
) -> None:
    request_id, _, customer = await submit(desk, desk_producer, "access")
    await state(desk, request_id, "completed")
    until = datetime.now(UTC).astimezone(STOCKHOLM).date() - timedelta(days=2)
    handle = await desk_temporal.start_workflow(
        DeferredErasureWorkflow.run,
        DeferredErasureInput(
            request_id=request_id,
            groups=(
                RetainedGroup(
                    until=until,
                    actions=(
                        PlannedAction(
                            system="hosting",
                            category="backups",
                            action=PlanAction.RETAIN,
                            refs=("backup:1",),
                            until=until,
                        ),
                    ),
                ),
            ),
        ),
        id=follow_up_workflow_id(request_id),
        task_queue=desk.stack.env["DSR_ORCHESTRATOR_TASK_QUEUE"],
    )
    try:
        first = _attempts(desk, request_id, 1)
        assert first["follow_ups"][0]["state"] == "retrying"
        assert "retry_deferred_erasure" in first["allowed_decisions"]
        retry_at = datetime.fromisoformat(first["follow_ups"][0]["retry_at"])
        assert retry_at - datetime.now(UTC) > timedelta(minutes=50)  # on its own: in an hour

        path = f"/api/requests/{request_id}/retry_deferred_erasure"
        assert post(desk, None, path, {}).status_code == 401
        assert post(desk, "auditor", path, {}).status_code == 403
        leaky = post(desk, "operator", path, {"note": f"asked by {customer.email}"})
        assert leaky.status_code == 422, leaky.text
        assert customer.email not in leaky.text

        accepted = post(desk, "operator", path, {"note": "hosting connector deployed"})
        assert accepted.status_code == 200, accepted.text
        receipt = accepted.json()["receipt"]
        assert (receipt["decision"], receipt["status"]) == ("retry_deferred_erasure", "completed")
        second = _attempts(desk, request_id, 2)  # at once, not in an hour
        [decision] = [
            d for d in second["decisions"] if d["details"]["decision"] == "retry_deferred_erasure"
        ]
        assert decision["actor"] == "test-operator"
        assert decision["details"]["reason"] == "hosting connector deployed"

        cli = dsr(desk, "retry-deferred-erasure", request_id, "--actor", "anna", "--note", "again")
        assert cli.returncode == 0, cli.stderr
        assert f"retry_deferred_erasure accepted for {request_id}: completed" in cli.stdout
        _attempts(desk, request_id, 3)
    finally:
        await handle.terminate()

    # A request without a deferred erasure: refused, saying why.
    other, _, _ = await submit(desk, desk_producer, "access")
    await state(desk, other, "completed")
    assert "retry_deferred_erasure" not in _view(desk, other)["allowed_decisions"]
    refused = post(desk, "dpo", f"/api/requests/{other}/retry_deferred_erasure", {})
    assert refused.status_code == 409, refused.text
    assert "no deferred erasure running" in refused.text
    cli = dsr(desk, "retry-deferred-erasure", other, "--actor", "anna")
    assert cli.returncode == 1
    assert "no deferred erasure running" in cli.stderr
