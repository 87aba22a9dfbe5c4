"""Replay over committed LiftRestriction histories: a change to workflows/lift_restriction.py that
would break a lift already running in production (non-determinism) fails here, before it ships.

A hold waits for its decision for months, so every generation of the code leaves holds that a
later one must replay — and carry on. The files:
- `lift_v1_hold`: a hold (its systems in its input) that waited a year, refused a decision
  without a note, then lifted on the DPO's decision: one system lifted, one failing for good
  (a person's task), one whose lift found nothing its restrict had restricted (a person's
  task), one restricted by hand and left restricted under another restriction in force;
- `lift_v1_decided`: a lift started with its decision (a request closed before holds existed),
  reading its systems from the request's history.

Recorded on the time-skipping server by `test_record_histories` below, which runs only with
DSR_RECORD_HISTORIES=1 and writes `lift_<DSR_LIFT_GENERATION>_<name>.json` (payloads are plain
JSON of a made-up subject).
"""

from __future__ import annotations

import os
import sys
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from schemas.lift import LiftRestriction, RestrictedSystem, lift_workflow_id
from schemas.workflow import DecisionReceipt
from tests.workflows.conftest import replay
from tests.workflows.test_lift_restriction_workflow import (
    DPO,
    NOTE,
    Lift,
    System,
    _subject,
    decided_at_once,
    held,
    workers,
)
from workflows.lift_restriction import LIFT_UPDATE, LiftRestrictionWorkflow

HISTORIES_DIR = Path(__file__).parent / "histories"
HISTORIES = sorted(HISTORIES_DIR.glob("lift_*.json"))
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


def test_histories_are_committed() -> None:
    assert {"lift_v1_hold", "lift_v1_decided"} <= {p.stem for p in HISTORIES}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    await replay(path, LiftRestrictionWorkflow)


def _lift(name: str) -> Lift:
    subject = _subject("rec.anna@example.se", customer_number="K900001")
    return Lift(
        f"rec-lift-{name}-{uuid.uuid4().hex[:8]}",
        systems=[
            System("billing"),
            System("registrar", fail_permanently=True),
            System("newsletter", lifted={}),
        ],
        restricted=[
            RestrictedSystem(system="billing", subject=subject, restricted={"contact": 1}),
            RestrictedSystem(system="registrar", subject=subject, restricted={"contact": 1}),
            RestrictedSystem(system="newsletter", subject=subject, restricted={"subscriber": 1}),
            RestrictedSystem(
                system="support", by_hand="support was restricted by hand: lift it by hand"
            ),
        ],
        others={"support": "rec-other-restriction"},
    )


async def _record_hold(env: WorkflowEnvironment, client: Client) -> WorkflowHistory:
    lift = _lift("hold")
    async with AsyncExitStack() as stack:
        queue = await workers(stack, client, lift)
        handle = await client.start_workflow(
            LiftRestrictionWorkflow.run,
            held(lift),
            id=lift_workflow_id(lift.request_id),
            task_queue=queue,
        )
        await env.sleep(timedelta(days=365))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                LIFT_UPDATE, LiftRestriction(actor=DPO, note=""), result_type=DecisionReceipt
            )
        await handle.execute_update(
            LIFT_UPDATE, LiftRestriction(actor=DPO, note=NOTE), result_type=DecisionReceipt
        )
        await handle.result()
        return await handle.fetch_history()


async def _record_decided(client: Client) -> WorkflowHistory:
    lift = _lift("decided")
    async with AsyncExitStack() as stack:
        queue = await workers(stack, client, lift)
        handle = await client.start_workflow(
            LiftRestrictionWorkflow.run,
            decided_at_once(lift),
            id=lift_workflow_id(lift.request_id),
            task_queue=queue,
        )
        await handle.result()
        return await handle.fetch_history()


@pytest.mark.skipif(
    os.environ.get("DSR_RECORD_HISTORIES") != "1", reason="records histories (DSR_RECORD_HISTORIES)"
)
async def test_record_histories() -> None:
    generation = os.environ.get("DSR_LIFT_GENERATION", "v1")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    try:
        client = env.client  # started with the pydantic converter
        histories = {
            "hold": await _record_hold(env, client),
            "decided": await _record_decided(client),
        }
    finally:
        await env.shutdown()
    HISTORIES_DIR.mkdir(exist_ok=True)
    for name, history in histories.items():
        (HISTORIES_DIR / f"lift_{generation}_{name}.json").write_text(history.to_json())
