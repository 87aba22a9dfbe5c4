"""Deferred erasure: retained items are erased on the day after their until-date, and a system
that cannot do it on the day is tried again until it has.

When an erasure request closes with items its verified systems retain until a date (each
financial year's vouchers, each backup copy), the request's workflow starts one chain,
`DeferredErasure` with id `dsr-<request id>-deferred-erasure` (`follow_up_workflow_id`),
abandoned on close (`ParentClosePolicy.ABANDON`), so it outlives the request. Its input holds
every until-date's group, earliest first. Each run of the chain is a durable timer to the next
date, the deletion of exactly the records the plan retained (by their opaque refs: the
subject's identifiers are not kept for years, and are not needed), an entry for the completion
record and the audit trail, and a continue-as-new with the dates that are left. Starting it
twice is a no-op (the id), and the crypto-shredding sweep keeps the request's key while the
chain runs (orchestrator/shredder.py).

Why a chain with timers, not a Temporal Schedule: a Schedule is for recurring work; this is one
event per date, known at completion, carrying its own slice of the plan. A timer lives on the
Temporal server, so it survives worker redeploys and restarts; the history of a run before its
timer fires is that timer, so code changed in the years between replays trivially (keep `run`
up to the timer as it is; anything after it runs as the code of the day, behind
`workflow.patched` where it changes what a recorded run did). Connector queues are looked up
when it fires, not when it was set.

A failed system is tried again (`follow-up-retry-v1`). A connector error retrying cannot fix
(credentials rotated, configuration, an operation no longer supported) or a connector missing
from the workers used to be recorded as `failed` and given up: the records stayed, the chain
ended, and the sweep then destroyed the key as if all were done. Now the attempt is recorded
(entry `failed`, with `attempt` and `retry_at`; the audit trail keeps each attempt) and only
the systems that failed are tried again after 1 hour, doubling to at most a day (or at once
on the `retry` signal, once the cause is fixed), until they succeed; the entry for that date
then ends as `done`, with the counts of every attempt.

Why each group is its own lane, side by side, and not a queue: a failing group must neither
hold back the next date (seven-year-old invoices and three-month-old backups fall due on their
own days) nor be held back by it, and one attempt may take long (a system that is down makes
the erase activity retry for as long as it takes). So a run under the patch waits for every
failed group's retry time and the next date at once, each with its own timer, and attempts
each when its time comes, whatever the others are doing. When an attempt has settled and none
is under way, the run continues as new with what is left: the next run's history starts again
with nothing but timers, and a group that fails for months never grows one history. Such a run
starts in `_side_by_side` (its input has `retrying`), and the rule of `run` holds for it too:
keep it, up to its lanes' timers, as it is. Runs recorded before the patch replay unchanged
(tests/workflows/test_follow_up_replay.py replays those of each generation).
"""

# No `from __future__ import annotations`: see workflows/dsr.py.
import asyncio
import contextlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from policy.model import Policy
    from policy.retention import erasable_at
    from schemas.events import RESERVED_REQUEST_ID_SUFFIX
    from schemas.plan import Plan, RetainedGroup
    from schemas.records import FollowUpEntry, RequestSummary
    from schemas.status import DecisionKind, SystemOutcome
    from schemas.subject import SubjectRef
    from schemas.workflow import (
        ConnectorCall,
        DecisionReceipt,
        FollowUpAppend,
        FollowUpDecision,
        RetryDeferredErasure,
    )
    from workflows.contracts import ConnectorOps, OrchestratorOps

__all__ = [
    "RETRY_PATCH",
    "RETRY_UPDATE",
    "DeferredErasureInput",
    "DeferredErasureWorkflow",
    "PendingErasure",
    "follow_up_workflow_id",
    "retry_delay",
    "start_deferred_erasures",
]

# Connector errors that retrying cannot fix (as in workflows/dsr.py).
_PERMANENT = ["PermanentError", "ConfigurationError", "AuthenticationError", "UnsupportedOperation"]
_ORCHESTRATOR_TIMEOUT = timedelta(seconds=30)
# A system down on the day must not lose the erasure: retry for as long as it takes.
_ERASE_RETRY = RetryPolicy(
    maximum_interval=timedelta(hours=1), non_retryable_error_types=_PERMANENT
)
# A failed group is tried again, not given up (see the module docstring).
RETRY_PATCH = "follow-up-retry-v1"
# The DPO's "try it now" (orchestrator/dpo/_deferred.py): an Update, so it is refused when
# nothing is failing and answers once the decision is in the audit trail. The `retry` signal
# does the same unrecorded (an operator's `temporal workflow signal`).
RETRY_UPDATE = "retry_now"
_RETRY_FIRST = timedelta(hours=1)
_RETRY_LONGEST = timedelta(days=1)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 1 h, doubling, at most a day
    (a fixed cause — a rotated credential put back — is picked up within a day, and a system
    that stays broken for months costs one attempt a day)."""
    return min(_RETRY_FIRST * (1 << min(attempts - 1, 8)), _RETRY_LONGEST)


class PendingErasure(BaseModel):
    """A date's group that failed in part: what is still to erase, and when to try again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: RetainedGroup  # the actions of the systems that failed, only
    attempts: int = Field(ge=1)  # made so far
    erased: dict[str, dict[str, int]] = Field(default_factory=dict)  # by the earlier attempts
    retry_at: AwareDatetime

    @property
    def due_on(self) -> date:
        return self.group.until + timedelta(days=1)


class DeferredErasureInput(BaseModel):
    """A request's retained items still to erase, grouped by until-date, earliest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    groups: tuple[RetainedGroup, ...]
    time_zone: str = "Europe/Stockholm"
    done: tuple[FollowUpEntry, ...] = ()  # entries of the dates already past (this chain)
    # Groups of past dates still failing, set only by follow-up-retry-v1's continue-as-new,
    # and whether the DPO asked for them to be tried now (a `retry` the last run did not use).
    retrying: tuple[PendingErasure, ...] = ()
    retry_now: bool = False


@dataclass(frozen=True)
class _Settled:
    """One attempt, recorded: its entry, and what is still to try (None: nothing)."""

    entry: FollowUpEntry
    pending: PendingErasure | None
    first: bool  # the date's first attempt (its group leaves `groups`)


def follow_up_workflow_id(request_id: str) -> str:
    """`dsr-<id>-deferred-erasure`: the contract refuses request ids with that ending, so no
    request's own workflow id can be another's follow-up."""
    return f"dsr-{request_id}{RESERVED_REQUEST_ID_SUFFIX}"


async def start_deferred_erasures(plan: Plan, summary: RequestSummary, policy: Policy) -> None:
    """From the request's workflow as it closes: one abandoned chain for the request's
    until-dates, for the systems whose erasure was verified (a failed system has nothing
    trustworthy to defer)."""
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


def _next_input(
    params: DeferredErasureInput, settled: list[_Settled], retry_now: bool
) -> DeferredErasureInput:
    """What the chain continues with: the dates not yet attempted, the groups still failing
    (those whose retry has not come yet, and those that just failed), one entry per date (the
    latest attempt's), and a DPO's `retry` that came after the last attempt began."""
    tried = {s.entry.due_on for s in settled}
    retrying = [p for p in params.retrying if p.due_on not in tried]
    retrying += [s.pending for s in settled if s.pending is not None]
    entries = {e.due_on: e for e in params.done} | {s.entry.due_on: s.entry for s in settled}
    return params.model_copy(
        update={
            "groups": params.groups[1:] if any(s.first for s in settled) else params.groups,
            "retrying": tuple(sorted(retrying, key=lambda p: p.due_on)),
            "done": tuple(entries[day] for day in sorted(entries)),
            "retry_now": retry_now and bool(retrying),
        }
    )


def _refused(message: str) -> ApplicationError:
    """An Update validator's verdict (the front door's `DecisionRejected`)."""
    return ApplicationError(message, type="DecisionRejected", non_retryable=True)


def _note(group: RetainedGroup, failed: dict[str, str], attempt: int) -> str:
    """System names and error kinds only: never a record's content or the subject."""
    if failed:
        return "; ".join(f"{system}: {why}" for system, why in failed.items())
    again = f" (attempt {attempt})" if attempt > 1 else ""
    return f"retention ended {group.until.isoformat()}: retained items erased{again}"


@workflow.defn(name="DeferredErasure")
class DeferredErasureWorkflow:
    @workflow.init
    def __init__(self, params: DeferredErasureInput) -> None:
        # The input here, not in `run`: an Update delivered with the run's first activation (a
        # worker replaying it from the start) is validated before `run` begins.
        self._params = params
        self._failing: set[date] = {p.due_on for p in params.retrying}  # last attempt failed
        self._retries_asked = 0  # `retry` signals received (this run)
        self._asked_before_last_start = 0  # ... of which before the latest attempt began
        self._under_way = 0  # attempts started and not yet recorded (this run)

    @workflow.signal
    def retry(self) -> None:
        """Try the failed systems now, not at the end of their back-off (the cause is fixed).
        One that comes while an attempt is under way, or as the run ends, is kept for the next
        run: the DPO's fix may have come too late for the attempt it overlapped."""
        self._retries_asked += 1

    @workflow.update(name=RETRY_UPDATE)
    async def retry_now(self, decision: RetryDeferredErasure) -> DecisionReceipt:
        """The DPO's `retry` with who and why: recorded in the audit trail first, then the
        failed systems are tried (at once, or right after an attempt under way)."""
        params = self._params
        status = await workflow.execute_activity_method(
            OrchestratorOps.record_follow_up_decision,
            FollowUpDecision(
                request_id=params.request_id,
                decision=DecisionKind.RETRY_DEFERRED_ERASURE,
                actor=decision.actor.strip(),
                at=workflow.now(),
                note=decision.note.strip(),
                dedupe_key=f"{params.request_id}/deferred-erasure/decision/{workflow.uuid4()}",
            ),
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
        self._retries_asked += 1
        return DecisionReceipt(
            request_id=params.request_id,
            decision=DecisionKind.RETRY_DEFERRED_ERASURE.value,
            status=status,
        )

    @retry_now.validator
    def _check_retry(self, decision: RetryDeferredErasure) -> None:
        if not decision.actor.strip():
            raise _refused("a decision needs an actor")
        params = self._params
        if not self._failing:
            upcoming = (
                f"; the next erasure is due on {params.groups[0].until + timedelta(days=1)}"
                if params.groups
                else ""
            )
            raise _refused(
                f"no deferred erasure of request {params.request_id} is failing: nothing to "
                f"try again{upcoming}"
            )

    @workflow.run
    async def run(self, params: DeferredErasureInput) -> list[FollowUpEntry]:
        if params.retrying:
            # Only follow-up-retry-v1 continues a chain with failing groups: a run recorded
            # before it never has any, so never takes this turn.
            return await self._side_by_side(params)
        # ── up to the timer: keep exactly as it is (see the module docstring) ──
        group, rest = params.groups[0], params.groups[1:]
        wait = erasable_at(group.until, params.time_zone) - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        # ── the day has come ──
        if workflow.patched(RETRY_PATCH):
            return await self._side_by_side(params)
        # Before follow-up-retry-v1 (runs recorded then replay through here): one attempt.
        entry = await self._erase(params.request_id, group)
        done = (*params.done, entry)
        if rest:
            # A fresh run for the next date: its history is again one timer, whatever code
            # runs by then (continue-as-new keeps the chain's id).
            workflow.continue_as_new(params.model_copy(update={"groups": rest, "done": done}))
        return list(done)

    # ── follow-up-retry-v1 ──────────────────────────────────────────────────────────────────
    async def _side_by_side(self, params: DeferredErasureInput) -> list[FollowUpEntry]:
        """Each failing group and the next date in a lane of its own, until an attempt has
        settled and none is under way; then continue as new with what is left. (Up to the
        lanes' timers, keep as it is: see the module docstring.)"""
        lanes = [asyncio.create_task(self._retry_lane(params, p)) for p in params.retrying]
        if params.groups:
            lanes.append(asyncio.create_task(self._date_lane(params, params.groups[0])))
        settled: list[_Settled] = []
        waiting = lanes
        while not settled or self._under_way:
            finished, waiting = await workflow.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            settled += [task.result() for task in finished]
        for task in waiting:  # asleep: the next run sets their timers again
            task.cancel()
        if waiting:
            await workflow.wait(waiting)
        # A DPO's retry_now being recorded finishes in this run (its count goes into the next).
        await workflow.wait_condition(workflow.all_handlers_finished)
        following = _next_input(
            params, settled, self._retries_asked > self._asked_before_last_start
        )
        if following.groups or following.retrying:
            workflow.continue_as_new(following)
        return list(following.done)

    async def _date_lane(self, params: DeferredErasureInput, group: RetainedGroup) -> _Settled:
        wait = erasable_at(group.until, params.time_zone) - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        return await self._attempt(params.request_id, group, 1, {})

    async def _retry_lane(self, params: DeferredErasureInput, pending: PendingErasure) -> _Settled:
        wait = pending.retry_at - workflow.now()
        if wait > timedelta(0) and not params.retry_now:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._retries_asked > 0, timeout=wait)
        return await self._attempt(
            params.request_id, pending.group, pending.attempts + 1, pending.erased
        )

    async def _attempt(
        self,
        request_id: str,
        group: RetainedGroup,
        attempt: int,
        erased_before: dict[str, dict[str, int]],
    ) -> _Settled:
        """Erase the group's systems once and record it; a failed part is pending again."""
        self._under_way += 1
        self._asked_before_last_start = self._retries_asked
        try:
            day = group.until + timedelta(days=1)
            erased, failed = await self._erase_systems(request_id, group, day)
            erased = erased_before | erased
            retry_at: datetime | None = None
            pending = None
            if failed:
                retry_at = workflow.now() + retry_delay(attempt)
                pending = PendingErasure(
                    group=group.model_copy(
                        update={"actions": tuple(a for a in group.actions if a.system in failed)}
                    ),
                    attempts=attempt,
                    erased=erased,
                    retry_at=retry_at,
                )
            if failed:
                self._failing.add(day)
            else:
                self._failing.discard(day)
            entry = FollowUpEntry(
                due_on=day,
                ran_at=workflow.now(),
                erased=erased,
                outcome="failed" if failed else "done",
                note=_note(group, failed, attempt),
                attempt=attempt,
                retry_at=retry_at,
            )
            await self._append(request_id, entry)
            return _Settled(entry, pending, first=attempt == 1)
        finally:
            self._under_way -= 1

    # ── shared by both ──────────────────────────────────────────────────────────────────────
    async def _erase(self, request_id: str, group: RetainedGroup) -> FollowUpEntry:
        day = group.until + timedelta(days=1)
        erased, failed = await self._erase_systems(request_id, group, day)
        entry = FollowUpEntry(
            due_on=day,
            ran_at=workflow.now(),
            erased=erased,
            outcome="failed" if failed else "done",
            note=_note(group, failed, 1),
        )
        await self._append(request_id, entry)
        return entry

    async def _erase_systems(
        self, request_id: str, group: RetainedGroup, day: date
    ) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
        """Each system's deletion, one after the other: what each erased (counts), and why each
        failed system did (an error kind, or that its connector is gone)."""
        plans = group.system_plans()
        connectors = await workflow.execute_activity_method(
            OrchestratorOps.list_connectors,
            [p.system for p in plans],
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
        queues = {c.name: c.task_queue for c in connectors}
        erased: dict[str, dict[str, int]] = {}
        failed: dict[str, str] = {}
        for plan in plans:
            if plan.system not in queues:
                failed[plan.system] = "no such connector any more"
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
                failed[plan.system] = str(kind)
                continue
            erased[plan.system] = {
                k: v for k, v in (result.deleted | result.anonymised).items() if v
            }
        return erased, failed

    async def _append(self, request_id: str, entry: FollowUpEntry) -> None:
        await workflow.execute_activity_method(
            OrchestratorOps.append_follow_up,
            FollowUpAppend(request_id=request_id, entry=entry),
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
