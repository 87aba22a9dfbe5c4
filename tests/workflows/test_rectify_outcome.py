"""A rectification is "done" only where the values were applied (`rectify-refusals-v1`).

A system that holds a field but could not store the value asked for (an address that is not
one, another record's address) or holds one its connector does not change (a personnummer) is
a person's task, saying which fields and why — never the values; a field the system does not
hold at all is nothing to do there. On the time-skipping server with the connectors mocked
under their real activity names, plus replay over the committed history of a held request
(`rectify_v1_*`, recorded by `test_record_histories` with DSR_RECORD_HISTORIES=1).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from orchestrator.dpo import _decide
from schemas.connectors import ConnectorInfo, Operation
from schemas.events import DsrRequestedData
from schemas.results import RectifyResult
from schemas.status import RequestStatus, SystemOutcome
from schemas.workflow import ConnectorCall, DsrWorkflowInput
from tests.workflows.conftest import (
    TUNING,
    FakeSystem,
    Harness,
    replay,
    request_input,
    running_harness,
)
from workflows.dsr import DsrWorkflow

HISTORIES_DIR = Path(__file__).parent / "histories"
HISTORIES = sorted(HISTORIES_DIR.glob("rectify_*.json"))
NEW_EMAIL = "anna.ny@example.se"


@dataclass
class _Rectifying(FakeSystem):
    """A mocked connector that rectifies and reports what it could not apply."""

    result: RectifyResult = field(default_factory=lambda: RectifyResult(system="x"))

    def info(self, queue: str) -> ConnectorInfo:
        info = super().info(queue)
        return info.model_copy(update={"operations": [*info.operations, Operation.RECTIFY]})

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="connector.rectify")
        async def rectify(call: ConnectorCall) -> RectifyResult:
            self.calls.append(("rectify", []))
            return self.result.model_copy(update={"system": self.name})

        return [*super().activities(), rectify]


def _systems() -> list[FakeSystem]:
    return [
        _Rectifying(
            "billing",
            result=RectifyResult(
                system="billing",
                changed={"contact": 1},
                unchanged_fields=["personal_identity_number"],
            ),
        ),
        _Rectifying(
            "support",
            counts={"user": 1},
            result=RectifyResult(system="support", refused_fields=["email"]),
        ),
        _Rectifying(
            "hosting",
            counts={"account": 1},
            result=RectifyResult(
                system="hosting", changed={"account": 1}, rejected_fields=["street"]
            ),
        ),
    ]


def _rectification(received: Any) -> DsrWorkflowInput:
    params = request_input("access", received, tuning=TUNING)
    data = params.request.model_dump(mode="json")
    data.update(
        kind="rectification",
        rectification={
            "changes": [
                {"field": "email", "value": NEW_EMAIL},
                {"field": "personal_identity_number", "value": "199001011234"},
                {"field": "street", "value": "Storgatan 1"},
            ]
        },
    )
    return params.model_copy(update={"request": DsrRequestedData.model_validate(data)})


@pytest.fixture
async def rectifying(ts_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    async with running_harness(ts_env, _systems(), "dsr-rectify") as harness:
        yield harness


async def _held(rectifying: Harness) -> tuple[Any, DsrWorkflowInput]:
    params = _rectification(await rectifying.now())
    handle = await rectifying.client.start_workflow(
        DsrWorkflow.run, params, id=f"dsr-{params.request.request_id}", task_queue=rectifying.queue
    )
    return handle, params


async def test_what_a_system_could_not_apply_is_a_persons_task(rectifying: Harness) -> None:
    handle, params = await _held(rectifying)
    summary = await rectifying.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    by_system = {s.system: s for s in summary.systems}
    assert by_system["hosting"].outcome is SystemOutcome.DONE  # street: not held there
    assert by_system["hosting"].reason == "fields not held here: street"
    billing, support = by_system["billing"], by_system["support"]
    assert billing.outcome is support.outcome is SystemOutcome.MANUAL
    assert "personal_identity_number held here but changed only by a person" in (
        billing.reason or ""
    )
    assert billing.counts == {"contact": 1}  # what it did apply is still recorded
    assert "could not be stored here for email" in (support.reason or "")
    for status in summary.systems:
        assert NEW_EMAIL not in (status.reason or "") and "19900101" not in (status.reason or "")
    for name in ("billing", "support"):
        await _decide.resolve_system(
            rectifying.client,
            params.request.request_id,
            actor="dpo@example.se",
            system=name,
            outcome=SystemOutcome.DONE,
            note="corrected by hand",
        )
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED


def test_histories_are_committed() -> None:
    assert {"rectify_v1_held"} <= {p.stem for p in HISTORIES}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    await replay(path, DsrWorkflow)


@pytest.mark.skipif(
    not os.environ.get("DSR_RECORD_HISTORIES"), reason="records histories: DSR_RECORD_HISTORIES=1"
)
async def test_record_histories(rectifying: Harness) -> None:
    handle, params = await _held(rectifying)
    await rectifying.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    for name in ("billing", "support"):
        await _decide.resolve_system(
            rectifying.client,
            params.request.request_id,
            actor="dpo@example.se",
            system=name,
            outcome=SystemOutcome.DONE,
            note="corrected by hand",
        )
    await handle.result()
    history = await handle.fetch_history()
    (HISTORIES_DIR / "rectify_v1_held.json").write_text(history.to_json())
