"""Deferred erasure on the time-skipping server: a 7-year bookkeeping retention fires on the
right day and erases exactly the retained records, and the completion record gets its entry.

The real DsrWorkflowV2 and DeferredErasure run in the production sandbox configuration; the
activities are mocked under their real names (a billing connector that reports vouchers per
financial year and deletes by ref, and the orchestrator's store).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.worker import WORKFLOW_RUNNER
from policy.loader import load_policy
from policy.model import Policy
from schemas.connectors import ConnectorInfo, Operation
from schemas.events import DsrRequestedData
from schemas.identifiers import IdentifierType
from schemas.package import ExpiryCall, ExpiryOutcome
from schemas.plan import PlanAction
from schemas.records import CompletionRecord
from schemas.results import EraseResult, LocateResult, RecordFacts
from schemas.status import RequestStatus, SystemOutcome
from schemas.workflow import (
    ConnectorCall,
    DsrWorkflowInput,
    FollowUpAppend,
    RepeatCheck,
    RepeatCheckResult,
    StatusUpdate,
    WorkflowTuning,
)
from workflows.dsr import DsrWorkflow
from workflows.follow_up import DeferredErasureWorkflow, follow_up_workflow_id
from workflows.packaging import PackageExpiryWorkflow

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
TUNING = WorkflowTuning(
    activity_start_to_close=timedelta(seconds=10),
    activity_schedule_to_close=timedelta(seconds=20),
    retry_initial_interval=timedelta(milliseconds=100),
    retry_maximum_interval=timedelta(milliseconds=200),
    discovery_rounds=1,
)


@dataclass
class Billing:
    """Vouchers of three financial years, one ref each; erase deletes what the plan names."""

    env: WorkflowEnvironment
    this_year: int
    years: dict[str, date] = field(default_factory=dict)
    contact: int = 1
    erasures: list[tuple[datetime, ConnectorCall]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Vouchers of 7, 4 and 0 years ago: kept until this year's, in 3 and in 7 years' end.
        for age in (7, 4, 0):
            end = date(self.this_year - age, 12, 31)
            self.years[f"customer:7/fy:{end.isoformat()}"] = end

    def info(self, queue: str) -> ConnectorInfo:
        return ConnectorInfo(
            name="billing",
            task_queue=queue,
            search_identifiers=[IdentifierType.EMAIL],
            operations=[Operation.LOCATE, Operation.EXPORT, Operation.ERASE],
        )

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="connector.locate")
        async def locate(call: ConnectorCall) -> LocateResult:
            return LocateResult(
                system="billing",
                counts={"contact": self.contact, "invoices": len(self.years)},
                facts=[
                    RecordFacts(category="invoices", refs=(ref,), financial_year_end=end)
                    for ref, end in sorted(self.years.items())
                ],
            )

        @activity.defn(name="connector.erase")
        async def erase(call: ConnectorCall) -> EraseResult:
            assert call.plan is not None
            # The server's (skipped) clock when the activity started.
            self.erasures.append((activity.info().started_time, call))
            deleted = 0
            for ref in call.plan.refs("invoices", PlanAction.DELETE):
                deleted += self.years.pop(ref, None) is not None
            if call.plan.acts_on("contact", PlanAction.ANONYMISE):
                self.contact = 0
            return EraseResult(
                system="billing",
                deleted={"invoices": deleted},
                anonymised={"contact": 1} if call.plan.acts_on("contact", "anonymise") else {},
            )

        return [locate, erase]


@dataclass
class Orchestrator:
    queue: str
    billing: Billing
    policy: Policy
    records: list[CompletionRecord] = field(default_factory=list)
    follow_ups: list[FollowUpAppend] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="orchestrator.load_policy")
        async def load_policy_() -> Policy:
            return self.policy

        @activity.defn(name="orchestrator.list_connectors")
        async def list_connectors(only: list[str]) -> list[ConnectorInfo]:
            return [self.billing.info(f"{self.queue}-billing")]

        @activity.defn(name="orchestrator.publish_status")
        async def publish_status(update: StatusUpdate) -> None:
            return None

        @activity.defn(name="orchestrator.record_completion")
        async def record_completion(record: CompletionRecord) -> None:
            self.records.append(record)

        @activity.defn(name="orchestrator.check_repeat")
        async def check_repeat(check: RepeatCheck) -> RepeatCheckResult:
            return RepeatCheckResult(earlier_request_ids=[])

        @activity.defn(name="orchestrator.append_follow_up")
        async def append_follow_up(append: FollowUpAppend) -> None:
            self.follow_ups.append(append)

        @activity.defn(name="orchestrator.expire_package")
        async def expire_package(call: ExpiryCall) -> ExpiryOutcome:
            # The request's key-expiry timer (another helper's) fires too during the years.
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


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of its own: skipping eight years must not move the clock (or leave timers)
    under the session's other workflow tests."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def test_seven_year_bookkeeping_retention_fires_on_the_right_day_and_erases(
    ts_env: WorkflowEnvironment,
) -> None:
    client = Client(**{**ts_env.client.config(), "data_converter": pydantic_data_converter})
    queue = f"dsr-fu-{uuid.uuid4().hex[:8]}"
    # The session's test server may have skipped time already: dates are relative to its now.
    received = (await ts_env.get_current_time()).replace(microsecond=0)
    y = received.year
    billing = Billing(ts_env, y)
    orchestrator = Orchestrator(queue, billing, load_policy(None))
    newest = f"customer:7/fy:{y}-12-31"
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    data = DsrRequestedData.model_validate(
        {
            "request_id": request_id,
            "kind": "erasure",
            "received_at": received,
            "channel": "email",
            "subject": {"email": "anna@example.se"},
            "verification": {"method": "bankid", "verified_at": received},
        }
    )
    async with (
        Worker(
            client,
            task_queue=queue,
            workflows=[DsrWorkflow, DeferredErasureWorkflow, PackageExpiryWorkflow],
            activities=orchestrator.activities(),
            workflow_runner=WORKFLOW_RUNNER,
        ),
        Worker(client, task_queue=f"{queue}-billing", activities=billing.activities()),
    ):
        record = await client.execute_workflow(
            DsrWorkflow.run,
            DsrWorkflowInput(event_id="ev-1", event_source="test", request=data, tuning=TUNING),
            id=f"dsr-{request_id}",
            task_queue=queue,
        )
        # The request: contact anonymised, every voucher retained until its own year's date.
        assert record.status is RequestStatus.COMPLETED
        (system,) = record.systems
        assert system.outcome is SystemOutcome.RETAINED
        assert record.plan is not None
        untils = sorted(i.until for i in system.retained if i.until)
        assert untils == [date(y, 12, 31), date(y + 3, 12, 31), date(y + 7, 12, 31)]
        assert [g.until for g in record.plan.retained_by_until()] == untils
        assert len(billing.erasures) == 1  # only the request's own erasure so far

        # One durable chain per request: a timer per until-date, erasing on the day after.
        chain = ts_env.client.get_workflow_handle_for(
            DeferredErasureWorkflow.run, follow_up_workflow_id(request_id)
        )
        # Not started by this client, so awaiting it does not unlock time skipping by itself:
        # unlock it while waiting for the chain to end, seven years on.
        async with ts_env.time_skipping_unlocked():  # type: ignore[attr-defined] # V1 server
            entries = await chain.result()

    # This year's voucher: kept until the end of the 7th year after it, erased on the next
    # 1 January (Stockholm), and the older ones each on their own day before it.
    days = [date(y + 1, 1, 1), date(y + 4, 1, 1), date(y + 8, 1, 1)]
    assert [e.due_on for e in entries] == days
    entry = entries[-1]
    assert entry.due_on == date(y + 8, 1, 1)
    assert entry.outcome == "done"
    assert entry.erased == {"billing": {"invoices": 1}}
    fired = [(at.astimezone(STOCKHOLM), call) for at, call in billing.erasures[1:]]
    assert [call.today for _, call in fired] == days
    for at, call in fired:
        midnight = datetime.combine(call.today, datetime.min.time(), tzinfo=STOCKHOLM)
        assert midnight <= at < midnight + timedelta(hours=1), "fires on the day, not before"
        assert call.subject.identifiers == (), "no identifiers are kept for years"
        assert call.plan is not None
        assert {a.action for a in call.plan.actions} == {PlanAction.DELETE}
    assert fired[-1][1].plan is not None
    assert fired[-1][1].plan.refs("invoices", PlanAction.DELETE) == (newest,)
    assert billing.years == {}, "every retained voucher erased on its day"
    # The completion record gets one appended entry per date.
    assert sorted(a.entry.due_on for a in orchestrator.follow_ups) == days
    assert all(a.request_id == request_id for a in orchestrator.follow_ups)
    assert all(a.entry.ran_at.tzinfo is not None for a in orchestrator.follow_ups)
    assert min(a.entry.ran_at for a in orchestrator.follow_ups) > received
