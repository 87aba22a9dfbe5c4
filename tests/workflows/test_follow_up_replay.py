"""Replay over committed DeferredErasure histories: a change to workflows/follow_up.py that would
break a chain already running in production (non-determinism) fails here, before it ships.

A chain sleeps for years between its dates, so every generation of the code leaves runs that a
later one must replay. Each file is one run of one chain (the chain continues as new per step):
- `follow_up_v0_*`: recorded at commit 89b9be3, before `follow-up-retry-v1`: a failed group is
  recorded as failed and given up (run 1), the next date's group erased on its day (run 2);
- `follow_up_v1_*`: with `follow-up-retry-v1`: the failed group is tried again after its
  back-off while the next date's group runs on its own day, until everything is erased.

Recorded on the time-skipping server by `test_record_histories` below, which runs only with
DSR_RECORD_HISTORIES=1 and writes `follow_up_<DSR_FOLLOW_UP_GENERATION>_run<n>.json` (payloads
are plain JSON: record refs and counts of made-up vouchers, no subject).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.worker import WORKFLOW_RUNNER
from schemas.connectors import ConnectorInfo, Operation
from schemas.identifiers import IdentifierType
from schemas.plan import PlanAction, PlannedAction, RetainedGroup
from schemas.results import EraseResult
from schemas.workflow import ConnectorCall, FollowUpAppend
from tests.workflows.conftest import replay
from workflows.follow_up import DeferredErasureInput, DeferredErasureWorkflow

HISTORIES_DIR = Path(__file__).parent / "histories"
HISTORIES = sorted(HISTORIES_DIR.glob("follow_up_*.json"))
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
OLD_REF = "customer:7/fy:2017-12-31"


def test_histories_are_committed() -> None:
    names = {p.stem for p in HISTORIES}
    for generation in ("v0", "v1"):  # before follow-up-retry-v1, and with it
        assert {
            f"follow_up_{generation}_two_dates_run1",
            f"follow_up_{generation}_two_dates_run2",
            f"follow_up_{generation}_last_date_run1",
        } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    await replay(path, DeferredErasureWorkflow)


@dataclass
class _Systems:
    """Billing refuses its credentials twice for the old voucher; newsletter is missing from the
    worker on the first look-up (redeployed later)."""

    queue: str
    refusals: int = 2
    lookups: int = 0

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="orchestrator.list_connectors")
        async def list_connectors(only: list[str]) -> list[ConnectorInfo]:
            self.lookups += 1
            names = ["billing"] + (["newsletter"] if self.lookups > 1 else [])
            return [
                ConnectorInfo(
                    name=name,
                    task_queue=self.queue,
                    search_identifiers=[IdentifierType.EMAIL],
                    operations=[Operation.LOCATE, Operation.ERASE],
                )
                for name in names
                if name in only
            ]

        @activity.defn(name="orchestrator.append_follow_up")
        async def append_follow_up(append: FollowUpAppend) -> None:
            return None

        @activity.defn(name="connector.erase")
        async def erase(call: ConnectorCall) -> EraseResult:
            assert call.plan is not None
            if OLD_REF in call.plan.refs("invoices", PlanAction.DELETE) and self.refusals > 0:
                self.refusals -= 1
                raise ApplicationError("401", type="AuthenticationError", non_retryable=True)
            return EraseResult(
                system=call.plan.system,
                deleted={a.category: len(a.refs) for a in call.plan.actions},
            )

        return [list_connectors, append_follow_up, erase]


def _retained(system: str, category: str, ref: str, until: date) -> PlannedAction:
    return PlannedAction(
        system=system, category=category, action=PlanAction.RETAIN, refs=(ref,), until=until
    )


async def _runs(client: Client, workflow_id: str, run_id: str) -> list[WorkflowHistory]:
    """Every run of the chain, first to last (following continue-as-new)."""
    histories = []
    next_run: str | None = run_id
    while next_run:
        history = await client.get_workflow_handle(workflow_id, run_id=next_run).fetch_history()
        histories.append(history)
        last = history.events[-1]
        continued = last.workflow_execution_continued_as_new_event_attributes
        next_run = continued.new_execution_run_id or None
    return histories


async def _record_chain(
    env: WorkflowEnvironment, name: str, groups: tuple[RetainedGroup, ...]
) -> list[WorkflowHistory]:
    """Run one chain to its end; every run's history."""
    client = env.client
    queue = f"dsr-fu-rec-{uuid.uuid4().hex[:8]}"
    workflow_id = f"dsr-rec-{name}-{uuid.uuid4().hex[:8]}-deferred-erasure"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[DeferredErasureWorkflow],
        activities=_Systems(queue).activities(),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await client.start_workflow(
            DeferredErasureWorkflow.run,
            DeferredErasureInput(request_id=f"rec-{name}", groups=groups),
            id=workflow_id,
            task_queue=queue,
        )
        await handle.result()
        first = handle.first_execution_run_id
        assert first is not None
        return await _runs(client, workflow_id, first)


@pytest.mark.skipif(
    os.environ.get("DSR_RECORD_HISTORIES") != "1", reason="records histories (DSR_RECORD_HISTORIES)"
)
async def test_record_histories() -> None:
    """Two chains: two dates, the first failing on its day (`two_dates`); one date, failing on
    its day (`last_date`: before the patch that run ended the chain)."""
    generation = os.environ.get("DSR_FOLLOW_UP_GENERATION", "v1")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    try:
        today = (await env.get_current_time()).astimezone(STOCKHOLM).date()
        old, new = today - timedelta(days=30), today
        failing = RetainedGroup(
            until=old,
            actions=(
                _retained("billing", "invoices", OLD_REF, old),
                _retained("newsletter", "subscriber", "subscriber:9", old),
            ),
        )
        later = RetainedGroup(
            until=new, actions=(_retained("billing", "invoices", "customer:7/fy:new", new),)
        )
        chains = {
            "two_dates": await _record_chain(env, "two", (failing, later)),
            "last_date": await _record_chain(env, "last", (failing,)),
        }
    finally:
        await env.shutdown()
    HISTORIES_DIR.mkdir(exist_ok=True)
    for name, runs in chains.items():
        for number, history in enumerate(runs, start=1):
            path = HISTORIES_DIR / f"follow_up_{generation}_{name}_run{number}.json"
            path.write_text(history.to_json())
