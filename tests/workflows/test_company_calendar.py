"""The request workflow reads the company's calendar, not UTC's, and keeps its promises when it
ends early (LOCAL_CALENDAR_PATCH, DEFERRED_ON_CLOSE_PATCH), on the time-skipping server:

- an unverified request received in February is denied before its one-month due day, not
  after it (Art. 12(4); the policy's 30 days outran the month);
- "today" for the plan is the Stockholm day: at 00:30 on 1 January the vouchers whose last day
  was 31 December are erased, not "retained until" a day already over;
- an erasure the DPO cancels after a system was erased and verified still gets the deferred
  erasure of what that system retained.

The real DsrWorkflowV2 and DeferredErasure in the production sandbox configuration; activities
mocked under their real names, on the module's own test server (the conftest's `ts_env`): these
tests move its clock by months.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.worker import WORKFLOW_RUNNER
from policy.deadlines import deadline
from policy.loader import load_policy
from policy.model import Policy
from schemas.connectors import ConnectorInfo, Operation
from schemas.identifiers import IdentifierType
from schemas.package import ExpiryCall, ExpiryOutcome
from schemas.plan import PlanAction
from schemas.records import CompletionRecord
from schemas.results import EraseResult, LocateResult, RecordFacts
from schemas.status import RequestStatus, SystemOutcome
from schemas.workflow import (
    Cancel,
    ConnectorCall,
    FollowUpAppend,
    RepeatCheck,
    RepeatCheckResult,
    StatusUpdate,
    WorkflowTuning,
)
from tests.workflows.conftest import request_input
from workflows.dsr import DsrWorkflow
from workflows.follow_up import DeferredErasureWorkflow, follow_up_workflow_id
from workflows.packaging import PackageExpiryWorkflow

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TUNING = WorkflowTuning(
    activity_start_to_close=timedelta(seconds=10),
    activity_schedule_to_close=timedelta(seconds=20),
    retry_initial_interval=timedelta(milliseconds=100),
    retry_maximum_interval=timedelta(milliseconds=200),
    discovery_rounds=1,
)
DPO = "dpo@company.se"


@dataclass
class System:
    """A mocked connector: vouchers (ref → financial year end) it reports and deletes by ref;
    `erase_fails` makes every erase a permanent failure (the request then needs the DPO)."""

    name: str
    category: str = "contact"  # the one category it holds besides vouchers (the policy's name)
    vouchers: dict[str, date] = field(default_factory=dict)
    erase_fails: bool = False
    held: int = 1  # records of `category`, until an erasure deletes or anonymises them
    crashes_after_erasing: int = 0  # erase attempts that do their work, then fail to answer
    erasures: list[ConnectorCall] = field(default_factory=list)

    def info(self, queue: str) -> ConnectorInfo:
        return ConnectorInfo(
            name=self.name,
            task_queue=f"{queue}-{self.name}",
            search_identifiers=[IdentifierType.EMAIL],
            operations=[Operation.LOCATE, Operation.EXPORT, Operation.ERASE],
        )

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="connector.locate")
        async def locate(call: ConnectorCall) -> LocateResult:
            return LocateResult(
                system=self.name,
                counts={
                    self.category: self.held,
                    **({"invoices": len(self.vouchers)} if self.vouchers else {}),
                },
                facts=[
                    RecordFacts(category="invoices", refs=(ref,), financial_year_end=end)
                    for ref, end in sorted(self.vouchers.items())
                ],
            )

        @activity.defn(name="connector.erase")
        async def erase(call: ConnectorCall) -> EraseResult:
            self.erasures.append(call)
            if self.erase_fails:
                raise ApplicationError("credentials refused", type="AuthenticationError")
            assert call.plan is not None
            deleted = sum(
                self.vouchers.pop(ref, None) is not None
                for ref in call.plan.refs("invoices", PlanAction.DELETE)
            )
            anonymised = self.held
            self.held = 0
            if self.crashes_after_erasing > 0:  # the worker died before it could answer
                self.crashes_after_erasing -= 1
                raise ApplicationError("worker lost", type="ConnectionError")
            return EraseResult(
                system=self.name,
                deleted={"invoices": deleted},
                anonymised={self.category: anonymised},
            )

        return [locate, erase]


@dataclass
class Stack:
    """The orchestrator's own activities, mocked, with the request's workers running."""

    env: WorkflowEnvironment
    client: Client
    queue: str
    workers: AsyncExitStack
    systems: list[System] = field(default_factory=list)
    policy: Policy = field(default_factory=lambda: load_policy(None))
    updates: list[StatusUpdate] = field(default_factory=list)
    records: list[CompletionRecord] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="orchestrator.load_policy")
        async def load_policy_() -> Policy:
            return self.policy

        @activity.defn(name="orchestrator.list_connectors")
        async def list_connectors(only: list[str]) -> list[ConnectorInfo]:
            return [s.info(self.queue) for s in self.systems]

        @activity.defn(name="orchestrator.publish_status")
        async def publish_status(update: StatusUpdate) -> None:
            self.updates.append(update)

        @activity.defn(name="orchestrator.record_completion")
        async def record_completion(record: CompletionRecord) -> None:
            self.records.append(record)

        @activity.defn(name="orchestrator.check_repeat")
        async def check_repeat(check: RepeatCheck) -> RepeatCheckResult:
            return RepeatCheckResult(earlier_request_ids=[])

        @activity.defn(name="orchestrator.append_follow_up")
        async def append_follow_up(append: FollowUpAppend) -> None:
            return None

        @activity.defn(name="orchestrator.expire_package")
        async def expire_package(call: ExpiryCall) -> ExpiryOutcome:
            return ExpiryOutcome(key_destroyed=True)

        return [
            load_policy_,
            list_connectors,
            publish_status,
            record_completion,
            check_repeat,
            append_follow_up,
            expire_package,
        ]

    async def start(
        self, kind: str, received: datetime, *, verified: bool = True
    ) -> WorkflowHandle[DsrWorkflow, CompletionRecord]:
        params = request_input(kind, received, verified=verified, tuning=TUNING)
        return await self.client.start_workflow(
            DsrWorkflow.run,
            params,
            id=f"dsr-{params.request.request_id}",
            task_queue=self.queue,
        )

    async def add(self, system: System) -> None:
        """A connector and its worker (a test adds its systems before it starts a request)."""
        self.systems.append(system)
        await self.workers.enter_async_context(
            Worker(
                self.client,
                task_queue=f"{self.queue}-{system.name}",
                activities=system.activities(),
            )
        )

    async def skip_to(self, moment: datetime) -> None:
        """Move the server's clock to `moment` (which must lie ahead)."""
        ahead = moment - await self.env.get_current_time()
        assert ahead > timedelta(0), "the test server's clock is already past that moment"
        await self.env.sleep(ahead)


@pytest.fixture
async def stack(ts_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    client = Client(**{**ts_env.client.config(), "data_converter": pydantic_data_converter})
    queue = f"dsr-cal-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as workers:
        s = Stack(ts_env, client, queue, workers)
        await workers.enter_async_context(
            Worker(
                client,
                task_queue=queue,
                workflows=[DsrWorkflow, DeferredErasureWorkflow, PackageExpiryWorkflow],
                activities=s.activities(),
                workflow_runner=WORKFLOW_RUNNER,
            )
        )
        yield s


async def _next(month: int, day: int, at: time, ts_env: WorkflowEnvironment) -> datetime:
    """The next `month`-`day` at `at` Stockholm time after the server's now, a year out at most."""
    now = await ts_env.get_current_time()
    for year in (now.year, now.year + 1):
        moment = datetime.combine(date(year, month, day), at, tzinfo=STOCKHOLM)
        if moment > now + timedelta(minutes=1):
            return moment
    raise AssertionError("unreachable")


async def test_an_unverified_february_request_is_denied_within_its_month(
    stack: Stack, ts_env: WorkflowEnvironment
) -> None:
    await stack.add(System("billing"))
    received = await _next(2, 3, time(12), ts_env)
    await stack.skip_to(received)
    handle = await stack.start("erasure", received, verified=False)
    record = await handle.result()  # the server skips the wait

    due_day, due_at = deadline(received)
    assert due_day == date(received.year, 3, 3)  # 30 days on would be 5 March
    assert record.status is RequestStatus.DENIED
    [decision] = record.decisions
    assert decision.actor == "workflow"
    start_of_due_day = datetime.combine(due_day, time.min, tzinfo=STOCKHOLM)
    assert start_of_due_day <= decision.at < start_of_due_day + timedelta(minutes=1)
    assert record.completed_at < due_at, "told within the month"
    assert record.reason == "insufficient_verification: identity not verified in 27 days"
    reminders = [
        u.details.get("reminder") for u in stack.updates if u.action.value == "deadline_reminder"
    ]
    assert "overdue" not in reminders


async def test_a_march_request_still_waits_the_policys_thirty_days(
    stack: Stack, ts_env: WorkflowEnvironment
) -> None:
    await stack.add(System("billing"))
    received = await _next(3, 3, time(12), ts_env)
    await stack.skip_to(received)
    record = await (await stack.start("erasure", received, verified=False)).result()
    [decision] = record.decisions
    waited = decision.at - received
    assert timedelta(days=30) <= waited < timedelta(days=30, minutes=1)  # due only on 3 April


async def test_retention_is_judged_by_the_stockholm_day(
    stack: Stack, ts_env: WorkflowEnvironment
) -> None:
    # 00:30 on 1 January in Stockholm is still 31 December in UTC.
    planned = await _next(1, 1, time(0, 30), ts_env)
    y = planned.year
    ended = f"customer:7/fy:{y - 8}-12-31"  # kept to the end of the 7th year after: 31 Dec y-1
    running = f"customer:7/fy:{y - 1}-12-31"  # kept until 31 Dec y+6
    billing = System("billing", vouchers={ended: date(y - 8, 12, 31), running: date(y - 1, 12, 31)})
    await stack.add(billing)
    await stack.skip_to(planned)
    handle = await stack.start("erasure", planned)
    async with asyncio.timeout(30):
        record = await handle.result()

    assert record.status is RequestStatus.COMPLETED
    assert record.plan is not None
    first = billing.erasures[0]
    assert first.today == date(y, 1, 1), "the connectors are told the Stockholm day"
    assert first.plan is not None
    assert first.plan.refs("invoices", PlanAction.DELETE) == (ended,), "its last day is over"
    (system,) = record.systems
    assert [i.until for i in system.retained if i.category == "invoices"] == [date(y + 6, 12, 31)]
    assert ended not in billing.vouchers
    await _end_chain(stack, record.request_id)


async def test_a_cancelled_erasure_still_erases_what_it_retained_when_retention_ends(
    stack: Stack, ts_env: WorkflowEnvironment
) -> None:
    now = await ts_env.get_current_time()
    y = now.year
    billing = System("billing", vouchers={f"customer:7/fy:{y}-12-31": date(y, 12, 31)})
    newsletter = System("newsletter", category="subscriber", erase_fails=True)
    await stack.add(billing)
    await stack.add(newsletter)
    handle = await stack.start("erasure", now.replace(microsecond=0))
    async with asyncio.timeout(30):
        while True:
            summary = await handle.query(DsrWorkflow.status)
            if summary is not None and summary.status is RequestStatus.NEEDS_ATTENTION:
                break
            await asyncio.sleep(0.05)
    await handle.execute_update(DsrWorkflow.cancel, Cancel(actor=DPO, reason="by the DPO"))
    record = await handle.result()

    assert record.status is RequestStatus.CANCELLED
    outcomes = {s.system: s.outcome for s in record.systems}
    assert outcomes["billing"] is SystemOutcome.RETAINED  # erased and verified before the cancel
    assert outcomes["newsletter"] is not SystemOutcome.DONE
    chain = stack.client.get_workflow_handle(follow_up_workflow_id(record.request_id))
    described = await chain.describe()
    assert described.status is WorkflowExecutionStatus.RUNNING, "the retained vouchers wait"
    await _end_chain(stack, record.request_id)


async def _end_chain(stack: Stack, request_id: str) -> None:
    """Stop the request's deferred erasure, if it has one, so its years of timers do not stay
    on this module's server."""
    chain = stack.client.get_workflow_handle(follow_up_workflow_id(request_id))
    if (await chain.describe()).status is WorkflowExecutionStatus.RUNNING:
        await chain.terminate("end of test")


async def test_an_erasure_retried_after_a_crash_still_proves_what_was_erased(
    stack: Stack, ts_env: WorkflowEnvironment
) -> None:
    """The attempt that erased crashed before answering; the retry finds nothing and reports
    zeros. The completion record must still say what the plan erased (verification found none
    of it left), or the proof kept for the authority would say nothing was done."""
    now = await ts_env.get_current_time()
    old = f"customer:7/fy:{now.year - 9}-12-31"  # past its retention: deleted
    billing = System("billing", vouchers={old: date(now.year - 9, 12, 31)}, crashes_after_erasing=1)
    await stack.add(billing)
    record = await (await stack.start("erasure", now.replace(microsecond=0))).result()

    assert record.status is RequestStatus.COMPLETED
    assert len(billing.erasures) == 2, "erased, crashed, retried"
    (system,) = record.systems
    assert system.outcome is SystemOutcome.DONE
    assert system.counts == {"deleted.invoices": 1, "anonymised.contact": 1}
