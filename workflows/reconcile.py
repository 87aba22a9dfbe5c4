"""ReconcileWorkflow: proves, on a Temporal Schedule, that every request record was accounted
for — a workflow or a dead letter — and re-drives any that was not (orchestrator.reconcile).

Small on purpose: all I/O is one activity (reading the topic from a checkpoint, checking
Temporal, the store and the DLQ); the workflow gives it a schedule, retries and a history.
Imports only schemas (and Temporal).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from schemas.reconcile import ReconcileInput, ReconcileReport

__all__ = ["RECONCILE_ACTIVITY", "ReconcileWorkflow", "reconcile_requests"]

RECONCILE_ACTIVITY = "orchestrator.reconcile_requests"


@activity.defn(name=RECONCILE_ACTIVITY)
async def reconcile_requests(params: ReconcileInput) -> ReconcileReport:
    """The activity's signature, so the workflow calls it by reference; the worker registers
    the implementation (orchestrator.reconcile.Reconciler) under the same name."""
    raise NotImplementedError


@workflow.defn(name="ReconcileWorkflow")
class ReconcileWorkflow:
    @workflow.run
    async def run(self, params: ReconcileInput) -> ReconcileReport:
        return await workflow.execute_activity(
            reconcile_requests,
            params,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5),
        )
