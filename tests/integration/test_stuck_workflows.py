"""The desk names a workflow that takes no step because its code fails on every task: no
reminder, status change or error reaches the store from it, so only Temporal's own mark
(`TemporalReportedProblems`) can show it. Real dev server, real worker, a real failing task."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from orchestrator.dpo._read import TemporalStatus, request_of_workflow
from tests.integration._stuck_workflow import StuckForTest
from tests.integration.conftest import Stack


async def test_a_workflow_failing_every_task_is_listed_as_stuck_then_cleared(
    stack: Stack, temporal: Client
) -> None:
    request_id = f"stuck-{secrets.token_hex(6)}"
    queue = f"stuck-{secrets.token_hex(4)}"
    status = TemporalStatus(stack.settings)
    async with Worker(temporal, task_queue=queue, workflows=[StuckForTest]):
        handle = await temporal.start_workflow(
            StuckForTest.run, id=f"dsr-{request_id}", task_queue=queue
        )
        try:
            async with asyncio.timeout(90):  # three failed tasks, with the server's backoff
                while True:
                    found = await status.stuck()
                    assert found is not None, "the dev server answers"
                    mine = [s for s in found if s.workflow_id == handle.id]
                    if mine:
                        break
                    await asyncio.sleep(1)  # polled until the server has marked it
            (stuck,) = mine
            assert stuck.request_id == request_id
            assert stuck.workflow_type == "StuckForTest"
            assert {"WorkflowTaskFailed", "WorkflowWorkerUnhandledFailure"} <= set(stuck.problems)
            # The CLI's door to the same read: listed, and exit status 1 (something is stuck).
            cli = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "orchestrator.cli",
                "stuck",
                "--json",
                env={**os.environ, **stack.env},
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await cli.communicate()
            assert cli.returncode == 1
            assert request_id in [s["request_id"] for s in json.loads(out)]
        finally:
            await handle.terminate("end of test")
    after = await status.stuck()
    assert after is not None and all(s.workflow_id != handle.id for s in after)


def test_workflow_ids_name_their_request() -> None:
    assert request_of_workflow("dsr-req-12345678") == "req-12345678"
    assert request_of_workflow("dsr-req-12345678-deferred-erasure") == "req-12345678"
    assert request_of_workflow("dsr-req-12345678.package-expiry") == "req-12345678"
    # The orchestrator's own: a schedule's run (a time in its id), the reconciler.
    assert request_of_workflow("dsr-shred-sweep-2026-12-03T14:00:00Z") is None
    assert request_of_workflow("reconcile/dsr.requests.v1") is None


async def test_an_unreachable_temporal_is_not_known_not_empty(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    assert await TemporalStatus(settings).stuck() is None
