"""ReconcileWorkflow on the time-skipping server, its activity mocked under its real name:
it returns the activity's report, and a failing activity is retried, then fails the run
(the schedule starts the next one)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from schemas.reconcile import ReconcileInput, ReconcileReport, RedrivenRecord
from workflows.reconcile import RECONCILE_ACTIVITY, ReconcileWorkflow

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


async def _run(env: WorkflowEnvironment, act: object) -> ReconcileReport:
    queue = f"reconcile-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[ReconcileWorkflow], activities=[act]
    ):
        return await env.client.execute_workflow(
            ReconcileWorkflow.run, ReconcileInput(max_records=7), id=queue, task_queue=queue
        )


async def test_the_report_is_the_activitys_and_failures_are_retried_then_surface() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    try:
        seen: list[int] = []

        @activity.defn(name=RECONCILE_ACTIVITY)
        async def reconcile(params: ReconcileInput) -> ReconcileReport:
            seen.append(params.max_records)
            if len(seen) < 3:
                raise RuntimeError("broker unreachable")
            redriven = RedrivenRecord(
                topic="t", partition=0, offset=4, request_id="req-00000001", outcome="started"
            )
            return ReconcileReport(examined=5, accounted=4, redriven=[redriven], checkpoint={0: 5})

        report = await _run(env, reconcile)
        assert seen == [7, 7, 7], "retried with the same input"
        assert report.examined == 5 and report.redriven[0].outcome == "started"

        @activity.defn(name=RECONCILE_ACTIVITY)
        async def broken(params: ReconcileInput) -> ReconcileReport:
            raise RuntimeError("always")

        with pytest.raises(WorkflowFailureError):
            await _run(env, broken)
    finally:
        await env.shutdown()
