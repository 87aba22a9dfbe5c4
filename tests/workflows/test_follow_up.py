"""Deferred erasure on the time-skipping server: a 7-year bookkeeping retention fires on the
right day and erases exactly the retained records, and the completion record gets its entry; a
system that refuses on the day (rotated credentials, a connector gone from the workers) is tried
again until the records are erased, while the later dates still run on their own days.

The real DsrWorkflowV2 and DeferredErasure run in the production sandbox configuration; the
activities are mocked under their real names (a billing connector that reports vouchers per
financial year and deletes by ref, and the orchestrator's store), except the follow-up's own
bookkeeping, which is the real activity over a real (SQLite) store where a test reads it back.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.store import Store
from orchestrator.worker import WORKFLOW_RUNNER
from policy.loader import load_policy
from policy.model import Policy
from schemas.connectors import ConnectorInfo, Operation
from schemas.events import Channel, DsrRequestedData, RequestKind, VerificationMethod
from schemas.identifiers import IdentifierType
from schemas.package import ExpiryCall, ExpiryOutcome
from schemas.plan import PlanAction, PlannedAction, RetainedGroup
from schemas.records import AuditAction, CompletionRecord, FollowUpEntry
from schemas.results import EraseResult, LocateResult, RecordFacts
from schemas.status import RequestStatus, SystemOutcome
from schemas.workflow import (
    ConnectorCall,
    DecisionReceipt,
    DsrWorkflowInput,
    FollowUpAppend,
    RepeatCheck,
    RepeatCheckResult,
    RetryDeferredErasure,
    StatusUpdate,
    WorkflowTuning,
)
from workflows.activities import OrchestratorActivities
from workflows.dsr import DsrWorkflow
from workflows.follow_up import (
    RETRY_UPDATE,
    DeferredErasureInput,
    DeferredErasureWorkflow,
    follow_up_workflow_id,
)
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
    refusals: int = 0  # deferred erasures refused (credentials rotated) before one succeeds

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
            if not call.subject.identifiers and self.refusals > 0:  # a deferred erasure
                self.refusals -= 1
                raise ApplicationError("401", type="AuthenticationError", non_retryable=True)
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
    store: Store | None = None  # when set, the completion record and follow-ups really kept

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
            if self.store is not None:
                await self.store.save_completion_record(record)

        @activity.defn(name="orchestrator.check_repeat")
        async def check_repeat(check: RepeatCheck) -> RepeatCheckResult:
            return RepeatCheckResult(earlier_request_ids=[])

        @activity.defn(name="orchestrator.append_follow_up")
        async def append_follow_up(append: FollowUpAppend) -> None:
            self.follow_ups.append(append)
            if self.store is not None:  # the worker's own activity: record and audit trail
                await _bookkeeping(self.store).append_follow_up(append)

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


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of its own, per test: skipping eight years must not move the clock under
    the session's other workflow tests, and a request leaves timers behind (its key's expiry)
    that, their workers gone, would hold the clock still for the next test."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}") as opened:
        yield opened


def _bookkeeping(store: Store) -> OrchestratorActivities:
    """The worker's orchestrator activities over `store` (only the follow-up's are used)."""
    return OrchestratorActivities(store, publisher=None, connectors=[])  # type: ignore[arg-type]


@dataclass
class Erasure:
    """One erasure request run to its end and its deferred-erasure chain to its last date."""

    request_id: str
    received: datetime
    record: CompletionRecord
    entries: list[FollowUpEntry]


async def _erasure_to_the_end(
    ts_env: WorkflowEnvironment, orchestrator: Orchestrator, billing: Billing, received: datetime
) -> Erasure:
    client = Client(**{**ts_env.client.config(), "data_converter": pydantic_data_converter})
    queue = orchestrator.queue
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
        assert len(billing.erasures) == 1  # only the request's own erasure so far
        # One durable chain per request: a timer per until-date, erasing on the day after.
        chain = ts_env.client.get_workflow_handle_for(
            DeferredErasureWorkflow.run, follow_up_workflow_id(request_id)
        )
        # Not started by this client, so awaiting it does not unlock time skipping by itself:
        # unlock it while waiting for the chain to end, seven years on.
        async with ts_env.time_skipping_unlocked():  # type: ignore[attr-defined] # V1 server
            entries = await chain.result()
    return Erasure(request_id, received, record, entries)


async def _now(ts_env: WorkflowEnvironment) -> datetime:
    # The session's test server may have skipped time already: dates are relative to its now.
    return (await ts_env.get_current_time()).replace(microsecond=0)


def _on_the_day(at: datetime, day: date) -> bool:
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=STOCKHOLM)
    return midnight <= at.astimezone(STOCKHOLM) < midnight + timedelta(hours=1)


async def test_seven_year_bookkeeping_retention_fires_on_the_right_day_and_erases(
    ts_env: WorkflowEnvironment,
) -> None:
    received = await _now(ts_env)
    y = received.year
    billing = Billing(ts_env, y)
    orchestrator = Orchestrator(f"dsr-fu-{uuid.uuid4().hex[:8]}", billing, load_policy(None))
    newest = f"customer:7/fy:{y}-12-31"
    erasure = await _erasure_to_the_end(ts_env, orchestrator, billing, received)
    record, entries = erasure.record, erasure.entries
    # The request: contact anonymised, every voucher retained until its own year's date.
    assert record.status is RequestStatus.COMPLETED
    (system,) = record.systems
    assert system.outcome is SystemOutcome.RETAINED
    assert record.plan is not None
    untils = sorted(i.until for i in system.retained if i.until)
    assert untils == [date(y, 12, 31), date(y + 3, 12, 31), date(y + 7, 12, 31)]
    assert [g.until for g in record.plan.retained_by_until()] == untils

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
        assert _on_the_day(at, call.today), "fires on the day, not before"
        assert call.subject.identifiers == (), "no identifiers are kept for years"
        assert call.plan is not None
        assert {a.action for a in call.plan.actions} == {PlanAction.DELETE}
        # Connectors date their evidence by the plan: the day it ran, not the last day kept.
        assert call.plan.created_on == call.today
    assert fired[-1][1].plan is not None
    assert fired[-1][1].plan.refs("invoices", PlanAction.DELETE) == (newest,)
    assert billing.years == {}, "every retained voucher erased on its day"
    # The completion record gets one appended entry per date.
    assert sorted(a.entry.due_on for a in orchestrator.follow_ups) == days
    assert all(a.request_id == erasure.request_id for a in orchestrator.follow_ups)
    assert all(a.entry.ran_at.tzinfo is not None for a in orchestrator.follow_ups)
    assert min(a.entry.ran_at for a in orchestrator.follow_ups) > received


async def test_rotated_credentials_on_the_day_are_retried_until_the_vouchers_are_erased(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    """Billing refuses its (rotated) credentials twice on the first date: a non-retryable
    AuthenticationError. The follow-up records each failure, tries billing again after 1 h and
    2 h, and the entry for that date ends as done with the counts; the later dates still run on
    their own days."""
    received = await _now(ts_env)
    y = received.year
    billing = Billing(ts_env, y, refusals=2)
    orchestrator = Orchestrator(
        f"dsr-fu-{uuid.uuid4().hex[:8]}", billing, load_policy(None), store=store
    )
    erasure = await _erasure_to_the_end(ts_env, orchestrator, billing, received)
    days = [date(y + 1, 1, 1), date(y + 4, 1, 1), date(y + 8, 1, 1)]

    assert billing.years == {}, "every retained voucher erased in the end"
    assert [(e.due_on, e.outcome, e.attempt) for e in erasure.entries] == [
        (days[0], "done", 3),
        (days[1], "done", 1),
        (days[2], "done", 1),
    ]
    assert erasure.entries[0].erased == {"billing": {"invoices": 1}}
    # Each attempt was recorded: the two failures as retrying, with the error kind only.
    first = [a.entry for a in orchestrator.follow_ups if a.entry.due_on == days[0]]
    assert [(e.outcome, e.attempt, e.retrying) for e in first] == [
        ("failed", 1, True),
        ("failed", 2, True),
        ("done", 3, False),
    ]
    assert [e.note for e in first[:2]] == ["billing: AuthenticationError"] * 2
    # Tried again after 1 h, then 2 h more; the later dates on their own days, once each.
    attempts = [at for at, call in billing.erasures[1:] if call.today == days[0]]
    assert _on_the_day(attempts[0], days[0])
    assert [b - a for a, b in itertools.pairwise(attempts)] == [
        pytest.approx(timedelta(hours=1), abs=timedelta(seconds=5)),
        pytest.approx(timedelta(hours=2), abs=timedelta(seconds=5)),
    ]
    later = [(at, call.today) for at, call in billing.erasures[1:] if call.today != days[0]]
    assert [day for _, day in later] == days[1:]
    assert all(_on_the_day(at, day) for at, day in later)

    # The completion record ends showing the truth: one entry per date, each done.
    stored = await store.get_completion_record(erasure.request_id)
    assert stored is not None
    assert [(e.due_on, e.outcome) for e in stored.follow_ups] == [(d, "done") for d in days]
    assert stored.follow_ups[0].erased == {"billing": {"invoices": 1}}
    # ... and the audit trail keeps every attempt.
    trail = [
        e.details
        for e in await store.audit_trail(erasure.request_id)
        if e.action is AuditAction.DEFERRED_ERASURE
    ]
    assert [(d["due_on"], d["outcome"]) for d in trail] == [
        (days[0].isoformat(), "failed"),
        (days[0].isoformat(), "failed"),
        (days[0].isoformat(), "done"),
        (days[1].isoformat(), "done"),
        (days[2].isoformat(), "done"),
    ]


# ── a chain started by the test: two close dates, the first failing for days ──────────────────
@dataclass
class Refusing:
    """Billing refuses its credentials for the `stubborn` voucher `refusals` times; newsletter
    is missing from the workers on the first look-up (redeployed afterwards)."""

    queue: str
    stubborn: str
    refusals: int
    lookups: int = 0
    erasures: list[tuple[datetime, str, date]] = field(default_factory=list)
    follow_ups: list[FollowUpEntry] = field(default_factory=list)

    def activities(self, store: Store) -> list[Callable[..., Awaitable[Any]]]:
        bookkeeping = _bookkeeping(store)

        @activity.defn(name="orchestrator.list_connectors")
        async def list_connectors(only: list[str]) -> list[ConnectorInfo]:
            self.lookups += 1
            present = ["billing", "newsletter"] if self.lookups > 1 else ["billing"]
            return [
                ConnectorInfo(
                    name=name,
                    task_queue=self.queue,
                    search_identifiers=[IdentifierType.EMAIL],
                    operations=[Operation.LOCATE, Operation.ERASE],
                )
                for name in present
                if name in only
            ]

        @activity.defn(name="orchestrator.append_follow_up")
        async def append_follow_up(append: FollowUpAppend) -> None:
            self.follow_ups.append(append.entry)
            await bookkeeping.append_follow_up(append)

        @activity.defn(name="connector.erase")
        async def erase(call: ConnectorCall) -> EraseResult:
            assert call.plan is not None
            self.erasures.append((activity.info().started_time, call.plan.system, call.today))
            refs = [r for a in call.plan.actions for r in a.refs]
            if self.stubborn in refs and self.refusals > 0:
                self.refusals -= 1
                raise ApplicationError("401", type="AuthenticationError", non_retryable=True)
            return EraseResult(
                system=call.plan.system,
                deleted={a.category: len(a.refs) for a in call.plan.actions},
            )

        return [list_connectors, append_follow_up, bookkeeping.record_follow_up_decision, erase]

    def attempts(self, system: str, day: date) -> list[datetime]:
        return [at for at, s, today in self.erasures if s == system and today == day]


def _retained(system: str, category: str, ref: str, until: date) -> PlannedAction:
    return PlannedAction(
        system=system, category=category, action=PlanAction.RETAIN, refs=(ref,), until=until
    )


async def _chain_with_record(
    ts_env: WorkflowEnvironment, store: Store, groups: tuple[RetainedGroup, ...]
) -> tuple[str, DeferredErasureInput]:
    """A completed request's record in the store, and the input of its chain."""
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    now = await _now(ts_env)
    await store.save_completion_record(
        CompletionRecord(
            request_id=request_id,
            kind=RequestKind.ERASURE,
            channel=Channel.EMAIL,
            status=RequestStatus.COMPLETED,
            event_id="ev-1",
            verification_method=VerificationMethod.BANKID,
            received_at=now,
            due_at=now + timedelta(days=30),
            completed_at=now,
            workflow_id=f"dsr-{request_id}",
            workflow_run_id="run-1",
            systems=[],
        )
    )
    return request_id, DeferredErasureInput(request_id=request_id, groups=groups)


async def test_a_group_failing_for_days_holds_back_neither_the_next_date_nor_itself(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    """Billing refuses the first date's voucher for two and a half days (7 attempts: 1 h, 2 h,
    4 h, 8 h, 16 h, a day apart); the next date, a day later, is erased at its midnight all the
    same; the newsletter, missing on the first day, is erased on the second attempt and its
    count kept through billing's later failures."""
    today = (await _now(ts_env)).astimezone(STOCKHOLM).date()
    first_until, next_until = today + timedelta(days=1), today + timedelta(days=2)
    first_day, next_day = first_until + timedelta(days=1), next_until + timedelta(days=1)
    stubborn = "customer:7/fy:old"
    groups = (
        RetainedGroup(
            until=first_until,
            actions=(
                _retained("billing", "invoices", stubborn, first_until),
                _retained("newsletter", "subscriber", "subscriber:9", first_until),
            ),
        ),
        RetainedGroup(
            until=next_until,
            actions=(_retained("billing", "invoices", "customer:7/fy:new", next_until),),
        ),
    )
    queue = f"dsr-fu-{uuid.uuid4().hex[:8]}"
    systems = Refusing(queue, stubborn, refusals=6)
    request_id, params = await _chain_with_record(ts_env, store, groups)
    async with Worker(
        ts_env.client,
        task_queue=queue,
        workflows=[DeferredErasureWorkflow],
        activities=systems.activities(store),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        entries = await ts_env.client.execute_workflow(
            DeferredErasureWorkflow.run,
            params,
            id=follow_up_workflow_id(request_id),
            task_queue=queue,
        )

    billing = systems.attempts("billing", first_day)
    assert len(billing) == 7
    assert _on_the_day(billing[0], first_day)
    gaps = [round((b - a) / timedelta(hours=1)) for a, b in itertools.pairwise(billing)]
    assert gaps == [1, 2, 4, 8, 16, 24], "1 hour, doubling up to a day"
    # The next date ran on its own day, while the first one was still failing.
    (next_attempt,) = systems.attempts("billing", next_day)
    assert _on_the_day(next_attempt, next_day)
    assert billing[0] < next_attempt < billing[-1]
    # Only the failed systems are tried again: newsletter once it is back, then never again.
    assert len(systems.attempts("newsletter", first_day)) == 1
    first = [e for e in systems.follow_ups if e.due_on == first_day]
    assert [e.outcome for e in first] == ["failed"] * 6 + ["done"]
    assert first[0].note == "billing: AuthenticationError; newsletter: no such connector any more"
    assert all(e.erased == {"newsletter": {"subscriber": 1}} for e in first[1:6])
    assert [(e.due_on, e.outcome) for e in entries] == [(first_day, "done"), (next_day, "done")]
    assert entries[0].erased == {"newsletter": {"subscriber": 1}, "billing": {"invoices": 1}}
    stored = await store.get_completion_record(request_id)
    assert stored is not None
    assert stored.follow_ups == entries


@asynccontextmanager
async def _running_chain(
    ts_env: WorkflowEnvironment, systems: Refusing, store: Store, request_id: str, params: Any
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """A worker on `systems`' queue and the request's deferred-erasure chain started on it."""
    async with Worker(
        ts_env.client,
        task_queue=systems.queue,
        workflows=[DeferredErasureWorkflow],
        activities=systems.activities(store),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        yield await ts_env.client.start_workflow(
            DeferredErasureWorkflow.run,
            params,
            id=follow_up_workflow_id(request_id),
            task_queue=systems.queue,
        )


async def test_the_retry_signal_tries_the_failed_systems_at_once(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    """The DPO put the credentials back: `retry` runs the failed systems now, not in an hour."""
    until = (await _now(ts_env)).astimezone(STOCKHOLM).date() - timedelta(days=3)
    stubborn = "customer:7/fy:old"
    groups = (
        RetainedGroup(until=until, actions=(_retained("billing", "invoices", stubborn, until),)),
    )
    queue = f"dsr-fu-{uuid.uuid4().hex[:8]}"
    systems = Refusing(queue, stubborn, refusals=1, lookups=1)  # newsletter is not concerned
    request_id, params = await _chain_with_record(ts_env, store, groups)
    async with _running_chain(ts_env, systems, store, request_id, params) as handle:
        # Time stands still unless a result is awaited: only the signal can bring the retry.
        await _until(lambda: len(systems.follow_ups) == 1)
        await handle.signal(DeferredErasureWorkflow.retry)
        await _until(lambda: len(systems.follow_ups) == 2)
        entries = await handle.result()
    first, second = systems.erasures
    assert second[0] - first[0] < timedelta(minutes=1)
    assert [(e.outcome, e.attempt) for e in entries] == [("done", 2)]


async def test_the_dpo_s_retry_is_audited_first_then_tries_the_failed_systems_at_once(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    """`dsr retry-deferred-erasure` (the chain's `retry_now` Update): who and why are in the
    request's audit trail when it answers, with the request's status; the failed system is then
    tried at once, and a second retry once nothing fails is refused, saying so."""
    until = (await _now(ts_env)).astimezone(STOCKHOLM).date() - timedelta(days=3)
    stubborn = "customer:7/fy:old"
    later = until + timedelta(days=400)
    groups = (
        RetainedGroup(until=until, actions=(_retained("billing", "invoices", stubborn, until),)),
        RetainedGroup(
            until=later, actions=(_retained("billing", "invoices", "customer:7/fy:new", later),)
        ),
    )
    queue = f"dsr-fu-{uuid.uuid4().hex[:8]}"
    systems = Refusing(queue, stubborn, refusals=1, lookups=1)
    request_id, params = await _chain_with_record(ts_env, store, groups)
    decision = RetryDeferredErasure(actor="dpo-anna", note="billing credentials put back")
    async with _running_chain(ts_env, systems, store, request_id, params) as handle:
        await _until(lambda: len(systems.follow_ups) == 1)
        receipt = await handle.execute_update(RETRY_UPDATE, decision, result_type=DecisionReceipt)
        trail = await store.audit_trail(request_id)
        decisions = [e for e in trail if e.action is AuditAction.DECISION]
        await _until(lambda: len(systems.follow_ups) == 2)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(RETRY_UPDATE, decision, result_type=DecisionReceipt)
        await handle.terminate()  # the second date is a year away
    assert receipt.status is RequestStatus.COMPLETED
    assert receipt.decision == "retry_deferred_erasure"
    assert [(e.actor, e.details) for e in decisions] == [
        (
            "dpo-anna",
            {"decision": "retry_deferred_erasure", "reason": "billing credentials put back"},
        )
    ]
    first, second = systems.erasures
    assert second[0] - first[0] < timedelta(minutes=1)
    assert [(e.outcome, e.attempt) for e in systems.follow_ups] == [("failed", 1), ("done", 2)]
    message = str(getattr(refused.value.cause, "message", refused.value.cause))
    assert "is failing" in message
    assert (later + timedelta(days=1)).isoformat() in message


async def test_a_retry_with_nothing_failing_is_refused_and_changes_nothing(
    ts_env: WorkflowEnvironment, store: Store
) -> None:
    """A chain waiting for its first date has nothing to try again: the Update is refused by its
    validator (no audit entry, no attempt)."""
    until = (await _now(ts_env)).astimezone(STOCKHOLM).date() + timedelta(days=90)
    groups = (
        RetainedGroup(
            until=until, actions=(_retained("billing", "invoices", "customer:7/fy:x", until),)
        ),
    )
    queue = f"dsr-fu-{uuid.uuid4().hex[:8]}"
    systems = Refusing(queue, "none", refusals=0, lookups=1)
    request_id, params = await _chain_with_record(ts_env, store, groups)
    async with _running_chain(ts_env, systems, store, request_id, params) as handle:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                RETRY_UPDATE, RetryDeferredErasure(actor="dpo"), result_type=DecisionReceipt
            )
        with pytest.raises(WorkflowUpdateFailedError) as anonymous:
            await handle.execute_update(
                RETRY_UPDATE, RetryDeferredErasure(actor="  "), result_type=DecisionReceipt
            )
        await handle.terminate()
    assert "nothing to try again" in str(getattr(refused.value.cause, "message", ""))
    assert "needs an actor" in str(getattr(anonymous.value.cause, "message", ""))
    assert systems.erasures == []
    assert not [e for e in await store.audit_trail(request_id) if e.action is AuditAction.DECISION]


async def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    """Wait in real time (the test server skips none here) until `condition` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.02)
