"""What the workflow sandbox's passthrough list costs: DsrWorkflowV2 runs with the production
runner (orchestrator.worker.WORKFLOW_RUNNER: only schemas, policy, pydantic, temporalio and
email_validator passed through) against one passing every module through, alternately, on a
local Temporal dev server with the connectors mocked (tests/workflows/conftest.py).

    .venv/bin/python bench/sandbox_passthrough.py [--workflows 40] [--no-cache]

`--no-cache` replays every workflow task from scratch (a new sandbox each time): the worst case.
Prints workflows/s and the worker's CPU per workflow for each.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from orchestrator.worker import WORKFLOW_RUNNER
from tests.workflows.conftest import FakeSystem, Harness
from workflows.dsr import DsrWorkflow

PASS_ALL = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
)


async def measure(
    env: WorkflowEnvironment, runner: SandboxedWorkflowRunner, n: int, cache: bool
) -> tuple[float, float]:
    queue = f"bench-sandbox-{uuid.uuid4().hex[:6]}"
    systems = [FakeSystem("billing"), FakeSystem("newsletter", counts={"subscriber": 1})]
    harness = Harness(env, env.client, queue, systems)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            Worker(
                env.client,
                task_queue=queue,
                workflows=[DsrWorkflow],
                activities=harness.activities(),
                workflow_runner=runner,
                max_cached_workflows=1000 if cache else 0,
            )
        )
        for system in systems:
            await stack.enter_async_context(
                Worker(
                    env.client, task_queue=f"{queue}-{system.name}", activities=system.activities()
                )
            )
        wall, cpu = time.perf_counter(), time.process_time()
        handles = [await harness.start("erasure") for _ in range(n)]
        for handle in handles:
            await handle.result()
        return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflows", type=int, default=40)
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=pydantic_data_converter,
    )
    try:
        await measure(env, WORKFLOW_RUNNER, 5, not args.no_cache)  # warm-up
        for name, runner in (("listed", WORKFLOW_RUNNER), ("all", PASS_ALL)) * 2:
            rate, cpu = await measure(env, runner, args.workflows, not args.no_cache)
            print(f"{name:7s} {rate:6.1f} workflows/s  {cpu:6.1f} ms worker CPU per workflow")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
