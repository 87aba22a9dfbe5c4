"""LiftRestriction on the time-skipping server: the real workflow in the production sandbox
configuration, its activities mocked under their real names (the orchestrator's store and
status topic, and one connector per system on its own task queue).

What it must do (Art. 18(3)): tell the portal the restriction is about to be lifted before any
system is touched; lift each restricted system with the identifiers its restrict call used;
record each system's result, and the systems it could not lift as a person's task — never a
silent success; and only then tell the portal `lifted` (or `partly_lifted`).

And as a hold (started when the restriction request closed, its systems in its input): wait
for the DPO's decision as long as it takes — a year of skipped time here — doing nothing
without one, refusing a decision without a note or a second one, and lifting on the decision.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.other_restrictions import OtherRestrictionsInForce
from orchestrator.store import Store
from orchestrator.worker import WORKFLOW_RUNNER
from policy.fingerprints import subject_fingerprints
from schemas.connectors import ConnectorInfo, Operation
from schemas.events import Channel, RequestKind, VerificationMethod
from schemas.identifiers import IdentifierType
from schemas.lift import (
    LiftDecision,
    LiftRecordAppend,
    LiftRestriction,
    LiftRestrictionInput,
    OtherRestrictions,
    RestrictedSystem,
    RestrictionCheck,
    RestrictionToLift,
    lift_workflow_id,
)
from schemas.records import (
    AuditAction,
    CompletionRecord,
    RequestSummary,
    RestrictionLiftRecord,
)
from schemas.results import RestrictResult
from schemas.status import (
    DecisionKind,
    RequestStatus,
    RestrictionNotice,
    RestrictionState,
    SystemOutcome,
    SystemStatus,
)
from schemas.subject import Identifier, SubjectRef
from schemas.workflow import ConnectorCall, DecisionReceipt, StatusUpdate
from tests.workflows.conftest import TUNING, replay
from workflows.lift_activities import holds_restriction
from workflows.lift_restriction import LIFT_UPDATE, LiftRestrictionWorkflow

DPO = "dpo@company.se"
NOTE = "accuracy verified with the customer"
LIFT_OPS = [Operation.LOCATE, Operation.RESTRICT, Operation.LIFT_RESTRICTION]


def _subject(*emails: str, customer_number: str | None = None) -> SubjectRef:
    ids = [Identifier(type=IdentifierType.EMAIL, value=e) for e in emails]
    if customer_number:
        ids.append(Identifier(type=IdentifierType.CUSTOMER_NUMBER, value=customer_number))
    return SubjectRef(identifiers=tuple(ids))


@dataclass
class System:
    """One connector: its operations, and how its lift behaves."""

    name: str
    operations: list[Operation] = field(default_factory=lambda: list(LIFT_OPS))
    lifted: dict[str, int] = field(default_factory=lambda: {"contact": 1})
    fail_permanently: bool = False
    fail_transiently: int = 0  # retryable failures before it succeeds

    def info(self, queue: str) -> ConnectorInfo:
        return ConnectorInfo(
            name=self.name,
            task_queue=f"{queue}-{self.name}",
            search_identifiers=[IdentifierType.EMAIL],
            operations=self.operations,
        )


@dataclass
class Lift:
    """The mocked activities, and everything the workflow told them, in order."""

    request_id: str
    systems: list[System]
    restricted: list[RestrictedSystem]
    events: list[str] = field(default_factory=list)  # "publish:<state>", "lift:<system>", "record"
    updates: list[StatusUpdate] = field(default_factory=list)
    calls: dict[str, list[ConnectorCall]] = field(default_factory=dict)
    records: list[LiftRecordAppend] = field(default_factory=list)
    # Per system, another restriction request of the subject in force (the activity's answer).
    others: dict[str, str] = field(default_factory=dict)
    checks: list[RestrictionCheck] = field(default_factory=list)

    def summary(self) -> RequestSummary:
        received = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        return RequestSummary(
            request_id=self.request_id,
            kind=RequestKind.RESTRICTION,
            channel=Channel.PORTAL,
            status=RequestStatus.COMPLETED,
            received_at=received,
            due_at=received + timedelta(days=30),
            updated_at=received + timedelta(hours=1),
            completed_at=received + timedelta(hours=1),
            systems=[
                SystemStatus(system=r.system, outcome=SystemOutcome.DONE) for r in self.restricted
            ],
        )

    def orchestrator(self, queue: str) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="orchestrator.restriction_to_lift")
        async def restriction_to_lift(request_id: str) -> RestrictionToLift:
            assert request_id == self.request_id
            self.events.append("history")
            return RestrictionToLift(summary=self.summary(), systems=self.restricted, tuning=TUNING)

        @activity.defn(name="orchestrator.restricted_request")
        async def restricted_request(request_id: str) -> RequestSummary:
            assert request_id == self.request_id
            self.events.append("request")
            return self.summary()

        @activity.defn(name="orchestrator.list_connectors")
        async def list_connectors(only: list[str]) -> list[ConnectorInfo]:
            return [s.info(queue) for s in self.systems if s.name in only]

        @activity.defn(name="orchestrator.publish_status")
        async def publish_status(update: StatusUpdate) -> None:
            assert update.summary.restriction is not None
            self.events.append(f"publish:{update.summary.restriction.state.value}")
            self.updates.append(update)

        @activity.defn(name="orchestrator.other_restrictions_in_force")
        async def other_restrictions_in_force(check: RestrictionCheck) -> OtherRestrictions:
            self.events.append("others")
            self.checks.append(check)
            return OtherRestrictions(by_system=self.others)

        @activity.defn(name="orchestrator.record_restriction_lift")
        async def record_restriction_lift(append: LiftRecordAppend) -> None:
            self.events.append("record")
            self.records.append(append)

        return [
            restriction_to_lift,
            restricted_request,
            list_connectors,
            publish_status,
            other_restrictions_in_force,
            record_restriction_lift,
        ]

    def connector(self, system: System) -> Callable[..., Awaitable[Any]]:
        @activity.defn(name="connector.lift_restriction")
        async def lift_restriction(call: ConnectorCall) -> RestrictResult:
            self.events.append(f"lift:{system.name}")
            self.calls.setdefault(system.name, []).append(call)
            if system.fail_permanently:
                raise ApplicationError(
                    "credentials rotated", type="AuthenticationError", non_retryable=True
                )
            if system.fail_transiently > 0:
                system.fail_transiently -= 1
                raise ApplicationError("503 from the system", type="RetryableError")
            return RestrictResult(system=system.name, restricted=system.lifted)

        return lift_restriction


@pytest.fixture
async def client(ts_env: WorkflowEnvironment) -> Client:
    return Client(**{**ts_env.client.config(), "data_converter": pydantic_data_converter})


async def workers(stack: AsyncExitStack, client: Client, lift: Lift) -> str:
    """The lift's workers (orchestrator and one per connector) on fresh queues; the queue."""
    queue = f"lift-ts-{uuid.uuid4().hex[:8]}"
    await stack.enter_async_context(
        Worker(
            client,
            task_queue=queue,
            workflows=[LiftRestrictionWorkflow],
            activities=lift.orchestrator(queue),
            workflow_runner=WORKFLOW_RUNNER,
        )
    )
    for system in lift.systems:
        await stack.enter_async_context(
            Worker(client, task_queue=f"{queue}-{system.name}", activities=[lift.connector(system)])
        )
    return queue


def decided_at_once(lift: Lift) -> LiftRestrictionInput:
    """A lift without a hold: the decision in the input, the systems read from the history."""
    return LiftRestrictionInput(
        request_id=lift.request_id,
        decision=LiftDecision(
            actor=DPO, note=NOTE, requested_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
        ),
    )


def held(lift: Lift) -> LiftRestrictionInput:
    """A hold: the systems (and their identifiers) in the input, no decision yet."""
    return LiftRestrictionInput(request_id=lift.request_id, systems=lift.restricted, tuning=TUNING)


async def _run(client: Client, lift: Lift) -> tuple[RestrictionLiftRecord, WorkflowHistory]:
    async with AsyncExitStack() as stack:
        queue = await workers(stack, client, lift)
        handle = await client.start_workflow(
            LiftRestrictionWorkflow.run,
            decided_at_once(lift),
            id=lift_workflow_id(lift.request_id),
            task_queue=queue,
        )
        record = await handle.result()
        return record, await handle.fetch_history()


def _request_id() -> str:
    return f"req-{uuid.uuid4().hex[:12]}"


async def test_the_subject_is_told_first_then_every_system_is_lifted_and_recorded(
    client: Client,
) -> None:
    billing = _subject("anna@example.se", customer_number="K100123")
    newsletter = _subject("anna@example.se", "anna.l@example.se")
    lift = Lift(
        _request_id(),
        systems=[
            System("billing"),
            System("newsletter", lifted={"subscriber": 1}, fail_transiently=2),
        ],
        restricted=[
            RestrictedSystem(system="billing", subject=billing, restricted={"contact": 1}),
            RestrictedSystem(system="newsletter", subject=newsletter),
        ],
    )
    record, history = await _run(client, lift)

    # Art. 18(3): told before anything is lifted; `lifted` only after the record is stored.
    assert lift.events[:3] == ["history", "publish:lifting", "others"]
    assert lift.events[-2:] == ["record", "publish:lifted"]
    # The check for other restrictions in force is asked with each system's identifiers.
    [check] = lift.checks
    assert (check.request_id, check.subjects) == (lift.request_id, [billing, newsletter])
    assert sorted(e for e in lift.events if e.startswith("lift:")) == [
        "lift:billing",
        *["lift:newsletter"] * 3,  # two retryable failures, retried
    ]
    # Each system with exactly the identifiers its own restrict call used.
    assert [c.subject for c in lift.calls["billing"]] == [billing]
    assert {c.subject for c in lift.calls["newsletter"]} == {newsletter}

    assert record.state is RestrictionState.LIFTED
    assert record.requested_by == DPO and record.note == NOTE
    assert {s.system: (s.outcome, s.counts) for s in record.systems} == {
        "billing": (SystemOutcome.DONE, {"contact": 1}),
        "newsletter": (SystemOutcome.DONE, {"subscriber": 1}),
    }
    assert record.tasks == []
    assert [a.record for a in lift.records] == [record]

    announced, done = lift.updates
    assert announced.action is AuditAction.DECISION and announced.actor == DPO
    assert announced.details["note"] == "accuracy verified with the customer"
    # The request stays completed; its decisions gain the lift, with who, when and why.
    assert announced.summary.status is RequestStatus.COMPLETED
    [decision] = announced.summary.decisions
    assert (decision.decision, decision.actor) == (DecisionKind.LIFT_RESTRICTION, DPO)
    assert done.summary.restriction is not None
    assert done.summary.restriction.state is RestrictionState.LIFTED
    assert done.summary.restriction.reason == "accuracy verified with the customer"
    assert announced.dedupe_key != done.dedupe_key
    # Nothing personal in what is stored and published (the history's are sealed by the codec).
    for update in lift.updates:
        text = update.model_dump_json()
        assert "anna" not in text and "K100123" not in text

    # Replay-safe: the history it made replays on the same code.
    await replay(history, LiftRestrictionWorkflow)


async def test_what_cannot_be_lifted_is_a_persons_task_not_a_silent_success(
    client: Client,
) -> None:
    subject = _subject("per@example.se")
    lift = Lift(
        _request_id(),
        systems=[
            System("billing"),
            System("registrar", fail_permanently=True),
            System("hosting", operations=[Operation.LOCATE, Operation.RESTRICT]),
            System("newsletter", lifted={}),  # nothing of the subject restricted there now
        ],
        restricted=[
            RestrictedSystem(system="billing", subject=subject),
            RestrictedSystem(system="registrar", subject=subject),
            RestrictedSystem(system="hosting", subject=subject),
            RestrictedSystem(system="newsletter", subject=subject),
            RestrictedSystem(system="gone", subject=subject),  # connector removed since
            RestrictedSystem(
                system="support", by_hand="support was restricted by hand: lift it by hand"
            ),
        ],
    )
    record, _ = await _run(client, lift)

    outcomes = {s.system: (s.outcome, s.reason) for s in record.systems}
    assert outcomes["billing"] == (SystemOutcome.DONE, None)
    assert outcomes["newsletter"] == (SystemOutcome.NOT_FOUND, None)
    assert outcomes["registrar"] == (
        SystemOutcome.FAILED,
        "AuthenticationError: lift it by hand",
    )
    assert outcomes["hosting"][0] is SystemOutcome.MANUAL
    assert "no lift_restriction operation" in (outcomes["hosting"][1] or "")
    assert outcomes["gone"][0] is SystemOutcome.MANUAL
    assert "no connector" in (outcomes["gone"][1] or "")
    assert outcomes["support"] == (
        SystemOutcome.MANUAL,
        "manual: support was restricted by hand: lift it by hand",
    )
    assert "credentials rotated" not in str(record.model_dump())  # error kinds only
    assert sorted(s.system for s in record.tasks) == ["gone", "hosting", "registrar", "support"]
    # Only the systems with a lift operation were called, the permanent failure once.
    assert sorted(e for e in lift.events if e.startswith("lift:")) == [
        "lift:billing",
        "lift:newsletter",
        "lift:registrar",
    ]
    assert record.state is RestrictionState.PARTLY_LIFTED
    final = lift.updates[-1]
    assert final.summary.restriction is not None
    assert final.summary.restriction.state is RestrictionState.PARTLY_LIFTED
    assert final.details["tasks"] == ["gone", "hosting", "registrar", "support"]
    assert final.details["lifted"] == ["billing", "newsletter"]


async def test_a_hold_waits_a_year_for_the_decision_and_lifts_on_it(
    ts_env: WorkflowEnvironment, client: Client
) -> None:
    billing = _subject("anna@example.se", customer_number="K100123")
    lift = Lift(
        _request_id(),
        systems=[System("billing"), System("newsletter", lifted={"subscriber": 1})],
        restricted=[
            RestrictedSystem(system="billing", subject=billing, restricted={"contact": 1}),
            RestrictedSystem(system="newsletter", subject=_subject("anna@example.se")),
        ],
    )
    async with AsyncExitStack() as stack:
        queue = await workers(stack, client, lift)
        handle = await client.start_workflow(
            LiftRestrictionWorkflow.run,
            held(lift),
            id=lift_workflow_id(lift.request_id),
            task_queue=queue,
        )
        started = await ts_env.get_current_time()
        # A year passes (skipped): the hold waits, durably, and nothing happens without a decision.
        await ts_env.sleep(timedelta(days=365))
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        assert lift.events == [] and lift.calls == {}
        history = await handle.fetch_history()
        assert not any(e.HasField("timer_started_event_attributes") for e in history.events)

        # The decision is validated as the front door's: an actor and a note saying why.
        for refused, why in (
            (LiftRestriction(actor=DPO, note=" "), "needs a note"),
            (LiftRestriction(actor=" ", note=NOTE), "needs an actor"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as error:
                await handle.execute_update(LIFT_UPDATE, refused, result_type=DecisionReceipt)
            assert why in str(error.value.cause)
        assert lift.events == []

        receipt = await handle.execute_update(
            LIFT_UPDATE, LiftRestriction(actor=DPO, note=NOTE), result_type=DecisionReceipt
        )
        # Answered once the subject was told (Art. 18(3)), never before.
        assert receipt.restriction is RestrictionState.LIFTING
        assert (receipt.request_id, receipt.status) == (lift.request_id, RequestStatus.COMPLETED)
        assert lift.events[:2] == ["request", "publish:lifting"]  # no history read: the input's
        # A second decision is refused while the first is carried out, or after.
        with pytest.raises(WorkflowUpdateFailedError) as error:
            await handle.execute_update(
                LIFT_UPDATE, LiftRestriction(actor=DPO, note=NOTE), result_type=DecisionReceipt
            )
        assert "already lifted" in str(error.value.cause)

        record = await handle.result()
        assert lift.events[-2:] == ["record", "publish:lifted"]
        assert [c.subject for c in lift.calls["billing"]] == [billing]
        assert record.state is RestrictionState.LIFTED
        assert (record.requested_by, record.note) == (DPO, NOTE)
        assert record.requested_at - started >= timedelta(days=365)  # when the DPO decided
        [announced, _] = lift.updates
        assert announced.action is AuditAction.DECISION and announced.actor == DPO
        history = await handle.fetch_history()

    await replay(history, LiftRestrictionWorkflow)


async def test_a_lift_decided_at_once_takes_no_further_decision(client: Client) -> None:
    """A request without a hold is started with its decision: the Update refuses another."""
    lift = Lift(
        _request_id(),
        systems=[System("billing", fail_transiently=1)],
        restricted=[RestrictedSystem(system="billing", subject=_subject("per@example.se"))],
    )
    async with AsyncExitStack() as stack:
        queue = await workers(stack, client, lift)
        handle = await client.start_workflow(
            LiftRestrictionWorkflow.run,
            decided_at_once(lift),
            id=lift_workflow_id(lift.request_id),
            task_queue=queue,
        )
        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as error:
            await handle.execute_update(
                LIFT_UPDATE, LiftRestriction(actor=DPO, note=NOTE), result_type=DecisionReceipt
            )
        if isinstance(error.value, WorkflowUpdateFailedError):
            assert "already lifted" in str(error.value.cause)
        record = await handle.result()
    assert record.state is RestrictionState.LIFTED
    assert lift.events.count("publish:lifting") == 1


def _completion(summary: RequestSummary) -> CompletionRecord:
    return CompletionRecord(
        request_id=summary.request_id,
        kind=RequestKind.RESTRICTION,
        channel=Channel.PORTAL,
        status=RequestStatus.COMPLETED,
        event_id="evt-1",
        verification_method=VerificationMethod.BANKID,
        received_at=summary.received_at,
        due_at=summary.due_at,
        completed_at=summary.received_at + timedelta(hours=1),
        workflow_id=f"dsr-{summary.request_id}",
        workflow_run_id="run-1",
        systems=summary.systems,
    )


def test_only_a_completed_restriction_that_restricted_something_is_held() -> None:
    """The worker's record store starts a hold for these only (workflows/lift_activities.py)."""
    summary = Lift(
        _request_id(),
        systems=[],
        restricted=[RestrictedSystem(system="billing", subject=_subject("a@example.se"))],
    ).summary()
    record = _completion(summary)
    assert holds_restriction(record)
    nothing = [SystemStatus(system="billing", outcome=SystemOutcome.NOT_FOUND)]
    for other in (
        {"systems": nothing},
        {"status": RequestStatus.DENIED, "systems": []},
        {"status": RequestStatus.CANCELLED},
        {"kind": RequestKind.ERASURE},
    ):
        assert not holds_restriction(record.model_copy(update=other)), other


async def _lift_held(client: Client, lift: Lift) -> RestrictionLiftRecord:
    """A hold, decided by the DPO's Update; its record."""
    async with AsyncExitStack() as stack:
        queue = await workers(stack, client, lift)
        handle = await client.start_workflow(
            LiftRestrictionWorkflow.run,
            held(lift),
            id=lift_workflow_id(lift.request_id),
            task_queue=queue,
        )
        await handle.execute_update(
            LIFT_UPDATE, LiftRestriction(actor=DPO, note=NOTE), result_type=DecisionReceipt
        )
        return await handle.result()


async def test_a_system_another_restriction_in_force_restricted_stays_restricted_under_it(
    client: Client,
) -> None:
    """Two restrictions of one person share each system's single flag: lifting this one
    leaves what the other (its hold still waiting) restricted, named, and calls nothing
    there; this request's restriction is lifted all the same — nothing is left to a person."""
    subject = _subject("anna@example.se", customer_number="K100123")
    other = "req-other-in-force"
    lift = Lift(
        _request_id(),
        systems=[System("billing"), System("newsletter", lifted={"subscriber": 1})],
        restricted=[
            RestrictedSystem(system="billing", subject=subject, restricted={"contact": 1}),
            RestrictedSystem(system="newsletter", subject=subject, restricted={"subscriber": 1}),
            RestrictedSystem(
                system="support", by_hand="support was restricted by hand: lift it by hand"
            ),
        ],
        others={"billing": other, "support": other},
    )
    record = await _lift_held(client, lift)

    # Asked once the subject was told, before any system was touched.
    assert lift.events[:3] == ["request", "publish:lifting", "others"]
    assert [e for e in lift.events if e.startswith("lift:")] == ["lift:newsletter"]
    outcomes = {s.system: (s.outcome, s.kept_under, s.reason) for s in record.systems}
    kept = f"still restricted under request {other}, in force: lifted with that request's lift"
    assert outcomes == {
        "billing": (SystemOutcome.RETAINED, other, kept),
        "newsletter": (SystemOutcome.DONE, None, None),
        "support": (SystemOutcome.RETAINED, other, kept),  # not a task: it stays, rightly
    }
    assert record.tasks == []
    assert record.state is RestrictionState.LIFTED  # this request's restriction
    final = lift.updates[-1]
    assert final.details["lifted"] == ["newsletter"]
    assert final.details["kept_under"] == {"billing": other, "support": other}
    assert final.details["tasks"] == []


async def test_a_lift_that_finds_nothing_a_restrict_restricted_is_a_persons_task(
    client: Client,
) -> None:
    """Restricted then, found nothing now (the identifiers no longer match, or the mark was
    cleared elsewhere): the restriction may still be in force — checked by hand, never
    `not_found` and `lifted`. Only where restrict itself restricted nothing is it not_found."""
    subject = _subject("anna@example.se")
    lift = Lift(
        _request_id(),
        systems=[System("newsletter", lifted={}), System("billing", lifted={})],
        restricted=[
            RestrictedSystem(system="newsletter", subject=subject, restricted={"subscriber": 1}),
            RestrictedSystem(system="billing", subject=subject, restricted={}),
        ],
    )
    record = await _lift_held(client, lift)

    outcomes = {s.system: (s.outcome, s.reason) for s in record.systems}
    assert outcomes == {
        "newsletter": (
            SystemOutcome.MANUAL,
            "manual: restricted 1 subscriber at the time; the lift found none: check by hand",
        ),
        "billing": (SystemOutcome.NOT_FOUND, None),
    }
    assert [s.system for s in record.tasks] == ["newsletter"]
    assert record.state is RestrictionState.PARTLY_LIFTED
    final = lift.updates[-1]
    assert final.summary.restriction is not None
    assert final.summary.restriction.state is RestrictionState.PARTLY_LIFTED
    assert final.details["tasks"] == ["newsletter"]


async def test_the_other_restrictions_in_force_are_those_of_the_subject_whose_hold_waits(
    client: Client, tmp_path: Path
) -> None:
    """The activity the lift asks (orchestrator/other_restrictions.py), on a real store and
    Temporal: another restriction request of the same person (its fingerprints kept when its
    hold started) whose hold runs and whose lift nobody decided yet keeps the systems its
    completion record shows done; once its lift is decided, or its hold ended, nothing."""
    key = b"k" * 32
    mine = _subject("anna@example.se", customer_number="K100123")
    other = Lift(
        _request_id(),
        systems=[],
        restricted=[
            RestrictedSystem(system="billing", subject=_subject("anna@example.se")),
            RestrictedSystem(system="support", by_hand="by hand"),
        ],
    )
    stranger = Lift(
        _request_id(),
        systems=[],
        restricted=[RestrictedSystem(system="hosting", subject=_subject("bo@example.se"))],
    )
    summary = other.summary()
    summary = summary.model_copy(
        update={
            "systems": [
                *summary.systems,
                SystemStatus(system="newsletter", outcome=SystemOutcome.NOT_FOUND),
            ]
        }
    )
    async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}") as store:
        holds = []
        for lift, request in ((other, summary), (stranger, stranger.summary())):
            await store.upsert_request(request)
            await store.save_completion_record(_completion(request))
            subjects = [r.subject for r in lift.restricted if r.subject is not None]
            fingerprints = sorted({f for s in subjects for f in subject_fingerprints(s, key)})
            await store.remember_subject(
                lift.request_id, RequestKind.RESTRICTION, request.received_at, fingerprints
            )
            # Its hold, waiting (no worker on its queue: it only needs to run).
            holds.append(
                await client.start_workflow(
                    LiftRestrictionWorkflow.run,
                    held(lift),
                    id=lift_workflow_id(lift.request_id),
                    task_queue=f"idle-{uuid.uuid4().hex[:8]}",
                )
            )
        check = RestrictionCheck(request_id=_request_id(), subjects=[mine])
        found = OtherRestrictionsInForce(store, client, key)

        async def ask() -> dict[str, str]:
            answer = await ActivityEnvironment().run(found.other_restrictions_in_force, check)
            return answer.by_system

        try:
            assert await ask() == {"billing": other.request_id, "support": other.request_id}
            # Its lift decided (`lifting` stored): it lifts its systems itself.
            lifting = summary.model_copy(
                update={
                    "restriction": RestrictionNotice(
                        state=RestrictionState.LIFTING, changed_at=summary.updated_at
                    )
                }
            )
            await store.upsert_request(lifting)
            assert await ask() == {}
            await store.upsert_request(summary)
            assert await ask() == {"billing": other.request_id, "support": other.request_id}
            await holds[0].terminate("the hold ended")
            assert await ask() == {}
        finally:
            for hold in holds:
                with contextlib.suppress(RPCError):
                    await hold.terminate("test over")
