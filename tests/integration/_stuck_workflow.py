"""A workflow whose code fails on every task, as a bug in new workflow code would (its own
module: the workflow sandbox re-imports the module that defines a workflow)."""

from temporalio import workflow


@workflow.defn(name="StuckForTest")
class StuckForTest:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code")
