"""The floor: a no-op workflow with the same activity shape as an access request in DsrWorkflow
(status, list connectors, status, two discovery rounds of locate ×connectors in parallel,
export ×connectors in parallel, record, status), started directly on Temporal.
Run as a worker process by bench/e2e.py.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

TASK_QUEUE = "bench-noop"
CONNECTOR_QUEUE = "bench-noop-connector"


@activity.defn(name="noop")
async def noop(_: str) -> str:
    return "ok"


@workflow.defn(name="NoopShape")
class NoopShape:
    @workflow.run
    async def run(self, connectors: int) -> str:
        timeout = timedelta(seconds=30)

        async def step(queue: str = TASK_QUEUE) -> None:
            await workflow.execute_activity(
                noop, "x", task_queue=queue, start_to_close_timeout=timeout
            )

        await step()  # received
        await step()  # list connectors
        await step()  # in_progress
        for _round in range(2):  # discovery: the first locate teaches identifiers, one more round
            await asyncio.gather(*(step(CONNECTOR_QUEUE) for _ in range(connectors)))  # locate
        await asyncio.gather(*(step(CONNECTOR_QUEUE) for _ in range(connectors)))  # export
        await step()  # record completion
        await step()  # completed
        return "done"


async def main(address: str) -> None:
    client = await Client.connect(address)
    workers = [
        Worker(client, task_queue=TASK_QUEUE, workflows=[NoopShape], activities=[noop]),
        Worker(client, task_queue=CONNECTOR_QUEUE, activities=[noop]),
    ]
    await asyncio.gather(*(w.run() for w in workers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
