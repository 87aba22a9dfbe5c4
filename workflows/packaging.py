"""Access packages in the workflow layer: the packaging activities as typed references, and the
durable expiry timer.

`PackagingOps` are stubs importing only `schemas` (like workflows/contracts.py): the workflow
calls `workflow.execute_activity_method(PackagingOps.build_package, ...)`; the implementation is
`workflows.activities.PackagingActivities` on the orchestrator's queue.

`PackageExpiryWorkflow` is one durable timer per package (why a timer and not a sweep: see
orchestrator/package/_service.py). It sleeps until the package expires, then deletes it and —
once the request is closed and its retention has ended — destroys the request's data key, each
audited by the activity. If something still needs the key it sleeps until then and looks again.
Its id belongs to no request (`package-expiry-<id>`), so it runs under the master key and keeps
working after the request's own key is gone.
"""

# No `from __future__ import annotations`: see workflows/dsr.py.
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from schemas.package import ExpiryCall, ExpiryOutcome, PackageBuild, PackageRef

__all__ = ["PackageExpiryWorkflow", "PackagingOps", "expiry_workflow_id"]

_TIMEOUT = timedelta(minutes=10)
_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
# Bound the history of a timer that keeps being pushed on (a long deferred erasure).
_MAX_ROUNDS = 50


def expiry_workflow_id(request_id: str) -> str:
    return f"package-expiry-{request_id}"


class PackagingOps:
    """The packaging activities, on the orchestrator's task queue."""

    @activity.defn(name="orchestrator.build_package")
    async def build_package(self, call: PackageBuild) -> PackageRef:
        raise NotImplementedError

    @activity.defn(name="orchestrator.expire_package")
    async def expire_package(self, call: ExpiryCall) -> ExpiryOutcome:
        raise NotImplementedError


@workflow.defn(name="PackageExpiry")
class PackageExpiryWorkflow:
    @workflow.run
    async def run(self, call: ExpiryCall) -> ExpiryOutcome:
        wake = call.expires_at
        deleted = False
        for _round in range(_MAX_ROUNDS):
            delay = wake - workflow.now()
            if delay > timedelta(0):
                await workflow.sleep(delay)
            outcome = await workflow.execute_activity_method(
                PackagingOps.expire_package,
                call.model_copy(update={"now": workflow.now()}),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            deleted = deleted or outcome.package_deleted
            if outcome.retry_at is None:
                return outcome.model_copy(update={"package_deleted": deleted})
            wake = outcome.retry_at
        workflow.continue_as_new(call.model_copy(update={"expires_at": wake}))
