"""The floor: a no-op workflow with the same Temporal shape as an access request in
DsrWorkflowV2 (workflows/dsr.py), started directly on Temporal. Run as a worker process by
bench/e2e.py.

The shape, step for step as the spine's history shows it (bench/e2e.py --profile prints one):
load policy, status `received`, repeat check, status `in_progress`, list connectors — the
orchestrator's bookkeeping, as local activities when the spine runs them locally (`local`) —
then two discovery rounds of locate ×connectors in parallel, export ×connectors in parallel,
build the package — the activity that also starts the package's expiry timer (a workflow of
its own that outlives the request, by id, as `build_package` does since `expiry-by-package-v1`)
—, record the completion and publish `completed`.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

TASK_QUEUE = "bench-noop"
CONNECTOR_QUEUE = "bench-noop-connector"


@activity.defn(name="noop")
async def noop(_: str) -> str:
    return "ok"


@activity.defn(name="noop_package")
async def noop_package(workflow_id: str) -> str:
    """Stands in for `build_package`: nothing built, the expiry timer started as it starts it."""
    await activity.client().start_workflow(
        NoopExpiry.run,
        "x",
        id=f"{workflow_id}.expiry",
        task_queue=activity.info().task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return "ok"


@workflow.defn(name="NoopExpiry")
class NoopExpiry:
    """Stands in for PackageExpiryWorkflow: one durable timer, far in the future."""

    @workflow.run
    async def run(self, _: str) -> None:
        await workflow.sleep(timedelta(days=30))


@workflow.defn(name="NoopShape")
class NoopShape:
    @workflow.run
    async def run(self, connectors: int, local: bool = False) -> str:
        timeout = timedelta(seconds=30)

        async def step(queue: str = TASK_QUEUE) -> None:
            await workflow.execute_activity(
                noop, "x", task_queue=queue, start_to_close_timeout=timeout
            )

        async def bookkeeping() -> None:
            if local:
                await workflow.execute_local_activity(noop, "x", start_to_close_timeout=timeout)
            else:
                await step()

        for _step in ("load policy", "received", "repeat check", "in_progress", "connectors"):
            await bookkeeping()
        for _round in range(2):  # discovery: the first locate teaches identifiers, one more round
            await asyncio.gather(*(step(CONNECTOR_QUEUE) for _ in range(connectors)))  # locate
        await asyncio.gather(*(step(CONNECTOR_QUEUE) for _ in range(connectors)))  # export
        # Build the package and start its expiry timer (a regular activity in the spine too).
        await workflow.execute_activity(
            noop_package, workflow.info().workflow_id, start_to_close_timeout=timeout
        )
        await bookkeeping()  # record completion
        await bookkeeping()  # completed
        return "done"


async def main(address: str, role: str = "all") -> None:
    """`all`: both queues in one process (as `dsr worker`); `workflows` or `connectors`: one of
    them, for the split topology (`e2e.py --topology split`, as the Helm chart deploys)."""
    client = await Client.connect(address)
    workers = []
    if role in ("all", "workflows"):
        workers.append(
            Worker(
                client,
                task_queue=TASK_QUEUE,
                workflows=[NoopShape, NoopExpiry],
                activities=[noop, noop_package],
            )
        )
    if role in ("all", "connectors"):
        workers.append(Worker(client, task_queue=CONNECTOR_QUEUE, activities=[noop]))
    await asyncio.gather(*(w.run() for w in workers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], *sys.argv[2:3]))
