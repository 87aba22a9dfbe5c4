"""Deferred erasure: retained items are erased on the day after their until-date.

When an erasure request completes with items the policy retains until a date (each financial
year's vouchers, each backup copy), the request's workflow starts one `DeferredErasure` child per
until-date, abandoned on close (`ParentClosePolicy.ABANDON`), so it outlives the request. Each
child is a single durable timer followed by the deletion of exactly the records the plan
retained (by their opaque refs: the subject's identifiers are not kept for years, and are not
needed), then an entry appended to the completion record and the audit trail.

Why a child workflow with a timer, not a Temporal Schedule: a Schedule is for recurring work;
this is one event per date, known at completion, carrying its own slice of the plan. A timer
lives on the Temporal server, so it survives worker redeploys and restarts; the history before
it fires is one timer, so code changed in the years between replays trivially (keep `run` up to
the timer as it is; anything after it runs as the code of the day). Connector queues are
looked up when it fires, not when it was set. Ids are `dsr-<request id>-erase-<until-date>`:
starting the same follow-up twice is a no-op.
"""

# No `from __future__ import annotations`: see workflows/dsr.py.
import contextlib
from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from policy.model import Policy
    from policy.retention import erasable_at
    from schemas.events import RESERVED_REQUEST_ID_SUFFIX
    from schemas.plan import Plan, RetainedGroup
    from schemas.records import FollowUpEntry, RequestSummary
    from schemas.status import SystemOutcome
    from schemas.subject import SubjectRef
    from schemas.workflow import ConnectorCall, FollowUpAppend
    from workflows.contracts import ConnectorOps, OrchestratorOps

__all__ = [
    "DeferredErasureInput",
    "DeferredErasureWorkflow",
    "follow_up_workflow_id",
    "start_deferred_erasures",
]

# Connector errors that retrying cannot fix (as in workflows/dsr.py).
_PERMANENT = ["PermanentError", "ConfigurationError", "AuthenticationError", "UnsupportedOperation"]
_ORCHESTRATOR_TIMEOUT = timedelta(seconds=30)
# A system down on the day must not lose the erasure: retry for as long as it takes.
_ERASE_RETRY = RetryPolicy(
    maximum_interval=timedelta(hours=1), non_retryable_error_types=_PERMANENT
)


class DeferredErasureInput(BaseModel):
    """A request's retained items still to erase, grouped by until-date, earliest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    groups: tuple[RetainedGroup, ...]
    time_zone: str = "Europe/Stockholm"
    done: tuple[FollowUpEntry, ...] = ()  # entries of the dates already past (this chain)


def follow_up_workflow_id(request_id: str) -> str:
    """`dsr-<id>-deferred-erasure`: the contract refuses request ids with that ending, so no
    request's own workflow id can be another's follow-up."""
    return f"dsr-{request_id}{RESERVED_REQUEST_ID_SUFFIX}"


async def start_deferred_erasures(plan: Plan, summary: RequestSummary, policy: Policy) -> None:
    """From the request's workflow at completion: one abandoned child per until-date, for the
    systems whose erasure was verified (a failed system has nothing trustworthy to defer)."""
    verified = {
        s.system
        for s in summary.systems
        if s.outcome in (SystemOutcome.RETAINED, SystemOutcome.DONE)
    }
    groups = []
    for group in plan.retained_by_until():
        actions = tuple(a for a in group.actions if a.system in verified and a.refs)
        if actions:
            groups.append(group.model_copy(update={"actions": actions}))
    if not groups:
        return
    with contextlib.suppress(WorkflowAlreadyStartedError):  # set by an earlier run
        await workflow.start_child_workflow(
            DeferredErasureWorkflow.run,
            DeferredErasureInput(
                request_id=summary.request_id, groups=tuple(groups), time_zone=policy.time_zone
            ),
            id=follow_up_workflow_id(summary.request_id),
            task_queue=workflow.info().task_queue,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )


@workflow.defn(name="DeferredErasure")
class DeferredErasureWorkflow:
    @workflow.run
    async def run(self, params: DeferredErasureInput) -> list[FollowUpEntry]:
        # ── up to the timer: keep exactly as it is (see the module docstring) ──
        group, rest = params.groups[0], params.groups[1:]
        wait = erasable_at(group.until, params.time_zone) - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        # ── the day has come ──
        entry = await self._erase(params.request_id, group)
        done = (*params.done, entry)
        if rest:
            # A fresh run for the next date: its history is again one timer, whatever code
            # runs by then (continue-as-new keeps the chain's id).
            workflow.continue_as_new(params.model_copy(update={"groups": rest, "done": done}))
        return list(done)

    async def _erase(self, request_id: str, group: RetainedGroup) -> FollowUpEntry:
        plans = group.system_plans()
        connectors = await workflow.execute_activity_method(
            OrchestratorOps.list_connectors,
            [p.system for p in plans],
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
        queues = {c.name: c.task_queue for c in connectors}
        day = group.until + timedelta(days=1)
        erased: dict[str, dict[str, int]] = {}
        problems: list[str] = []
        for plan in plans:
            if plan.system not in queues:
                problems.append(f"{plan.system}: no such connector any more")
                continue
            try:
                result = await workflow.execute_activity_method(
                    ConnectorOps.erase,
                    ConnectorCall(
                        request_id=request_id,
                        subject=SubjectRef(identifiers=()),  # by refs only: no identifiers kept
                        today=day,
                        plan=plan,
                    ),
                    task_queue=queues[plan.system],
                    start_to_close_timeout=timedelta(minutes=15),
                    heartbeat_timeout=timedelta(minutes=1),
                    retry_policy=_ERASE_RETRY,
                )
            except (ActivityError, ApplicationError) as error:
                cause = error.cause if isinstance(error, ActivityError) else error
                kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
                problems.append(f"{plan.system}: {kind}")
                continue
            erased[plan.system] = {
                k: v for k, v in (result.deleted | result.anonymised).items() if v
            }
        entry = FollowUpEntry(
            due_on=day,
            ran_at=workflow.now(),
            erased=erased,
            outcome="failed" if problems else "done",
            note="; ".join(problems)
            or f"retention ended {group.until.isoformat()}: retained items erased",
        )
        await workflow.execute_activity_method(
            OrchestratorOps.append_follow_up,
            FollowUpAppend(request_id=request_id, entry=entry),
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
        return entry
