"""Art. 19 through the connector kit: the plan's recipients are told through the connector
where it can (`notify_recipient`, asked by the connector activity for what the operation did
not report), and every recipient ends up in the completion's audit trail, as notified or as a
person's task with what must be done (policy.recipients), written to a real store.

The connector here is a small one of our own (the kit is under test, not a system); the
activity runs in Temporal's ActivityEnvironment, the store on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Self

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from connectors.base import Connector, DataCategory, Operation, SystemUnavailable
from connectors.base.recipients import tell_recipients
from orchestrator.store import Store
from policy.loader import load_policy
from policy.planner import plan_request
from policy.recipients import recipient_duties
from schemas.events import Channel, RequestKind, VerificationMethod
from schemas.identifiers import IdentifierType
from schemas.plan import Plan, PlanAction, PlannedAction, SystemPlan
from schemas.records import AuditAction, AuditEvent, CompletionRecord, RequestSummary
from schemas.results import EraseResult, LocateResult, RecipientNotification, RecordFacts
from schemas.status import RequestStatus, SystemOutcome, SystemStatus
from schemas.subject import Identifier, SubjectRef
from schemas.workflow import ConnectorCall
from workflows.activities import ConnectorActivities, OrchestratorActivities

SUBJECT = SubjectRef(identifiers=(Identifier(type=IdentifierType.EMAIL, value="a@example.se"),))
TODAY = date(2026, 12, 1)


class _Ledger(Connector):
    """Tells one recipient (its own API), reports another itself, cannot reach a third."""

    name = "ledger"
    search_identifiers = frozenset({IdentifierType.EMAIL})
    categories = (DataCategory(name="entries", description="entries", purpose="testing"),)
    operations = frozenset({Operation.LOCATE, Operation.ERASE})

    def __init__(self, *, failing: bool = False) -> None:
        self.told: list[tuple[str, str]] = []
        self.failing = failing

    @classmethod
    def from_settings(cls) -> Self:
        return cls()

    async def locate(self, subject: SubjectRef) -> LocateResult:
        return LocateResult(system=self.name, counts={"entries": 1})

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        reported = RecipientNotification(recipient="auditor", action="erase", reference="A-1")
        return EraseResult(system=self.name, deleted={"entries": 1}, notified=[reported])

    async def notify_recipient(
        self, subject: SubjectRef, recipient: str, action: str
    ) -> RecipientNotification | None:
        if recipient != "bank":
            return None
        if self.failing:
            raise SystemUnavailable("ledger bank API unreachable during notify (ConnectError)")
        self.told.append((recipient, action))
        return RecipientNotification(recipient="bank", action=action, reference="B-7")


def _plan(*recipients: str) -> SystemPlan:
    return SystemPlan(
        system="ledger",
        created_on=TODAY,
        actions=(PlannedAction(system="ledger", category="entries", action=PlanAction.DELETE),),
        recipients=recipients,
    )


class _NoSinks:
    async def open(self, request_id: str, system: str) -> object:
        raise AssertionError("erase opens no export sink")


async def test_the_activity_tells_the_plans_recipients_through_the_connector() -> None:
    connector = _Ledger()
    activities = ConnectorActivities(connector, _NoSinks())  # type: ignore[arg-type]
    call = ConnectorCall(
        request_id="r-1", subject=SUBJECT, today=TODAY, plan=_plan("auditor", "bank", "printer")
    )
    result = await ActivityEnvironment().run(activities.erase, call)
    assert [(n.recipient, n.reference) for n in result.notified] == [
        ("auditor", "A-1"),  # reported by the operation itself: not asked again
        ("bank", "B-7"),  # told through notify_recipient
    ]
    assert connector.told == [("bank", "erase")]
    # Without a plan naming recipients, nobody is asked.
    bare = ConnectorCall(request_id="r-2", subject=SUBJECT, today=TODAY, plan=_plan())
    assert [
        n.recipient for n in (await ActivityEnvironment().run(activities.erase, bare)).notified
    ] == ["auditor"]


async def test_a_recipient_outage_is_a_retryable_failure_of_the_activity() -> None:
    activities = ConnectorActivities(_Ledger(failing=True), _NoSinks())  # type: ignore[arg-type]
    call = ConnectorCall(request_id="r-3", subject=SUBJECT, today=TODAY, plan=_plan("bank"))
    with pytest.raises(ApplicationError) as error:
        await ActivityEnvironment().run(activities.erase, call)
    assert error.value.type == "SystemUnavailable"
    assert not error.value.non_retryable


async def test_tell_recipients_keeps_what_was_reported() -> None:
    reported = [RecipientNotification(recipient="bank", action="erase", reference="X")]
    connector = _Ledger()
    assert await tell_recipients(connector, SUBJECT, _plan("bank"), "erase", reported) == reported
    assert connector.told == []


def _billing_erasure_plan() -> Plan:
    """The shipped policy's plan for a billing customer with a saved card and invoices."""
    located = LocateResult(
        system="billing",
        counts={"contact": 1, "card_tokens": 2, "invoices": 1},
        facts=[
            RecordFacts(category="contact", count=1),
            RecordFacts(category="card_tokens", count=2),
            RecordFacts(category="invoices", count=1, financial_year_end=date(2025, 12, 31)),
        ],
    )
    operations = {"billing": frozenset({Operation.LOCATE, Operation.ERASE})}
    return plan_request(
        load_policy(None), RequestKind.ERASURE, {"billing": located}, TODAY, operations
    )


def test_a_recipient_no_connector_tells_is_a_task_with_what_to_do() -> None:
    plan = _billing_erasure_plan()
    assert "card-payment-provider" in plan.for_system("billing").recipients
    done = SystemStatus(
        system="billing", outcome=SystemOutcome.RETAINED, counts={"deleted.card_tokens": 2}
    )
    duties = recipient_duties(load_policy(None), RequestKind.ERASURE, plan, [done])
    assert len(duties) == 1 and not duties[0].notified
    task = duties[0].task or ""
    assert task.startswith("Art. 19: In the card payment provider's merchant portal")
    assert "erasure in billing: card_tokens" in task
    told = done.model_copy(update={"notified": ["card-payment-provider"]})
    assert [
        d.notified for d in recipient_duties(load_policy(None), RequestKind.ERASURE, plan, [told])
    ] == [True]
    # Nothing changed (failed) or the kind is not Art. 19's: no duty.
    failed = done.model_copy(update={"outcome": SystemOutcome.FAILED})
    assert recipient_duties(load_policy(None), RequestKind.ERASURE, plan, [failed]) == []
    assert recipient_duties(load_policy(None), RequestKind.ACCESS, plan, [done]) == []


async def test_the_completion_records_each_recipient_in_the_audit_trail(tmp_path: Path) -> None:
    plan = _billing_erasure_plan()
    registrar = SystemPlan(
        system="registrar",
        created_on=TODAY,
        actions=(PlannedAction(system="registrar", category="contacts", action=PlanAction.DELETE),),
        recipients=("se-registry",),
        recipients_notified_by_connector=("se-registry",),
    )
    plan = plan.model_copy(update={"systems": (*plan.systems, registrar)})
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    systems = [
        SystemStatus(
            system="billing", outcome=SystemOutcome.RETAINED, counts={"deleted.card_tokens": 2}
        ),
        SystemStatus(system="registrar", outcome=SystemOutcome.DONE, notified=["se-registry"]),
    ]
    record = CompletionRecord(
        request_id="req-art19",
        kind=RequestKind.ERASURE,
        channel=Channel.PORTAL,
        status=RequestStatus.COMPLETED,
        event_id="ev-1",
        verification_method=VerificationMethod.BANKID,
        received_at=at - timedelta(days=1),
        due_at=at + timedelta(days=29),
        completed_at=at,
        workflow_id="dsr-req-art19",
        workflow_run_id="run-1",
        systems=systems,
        plan=plan,
    )
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}")
    try:
        summary = RequestSummary(
            request_id=record.request_id,
            kind=record.kind,
            channel=record.channel,
            status=RequestStatus.COMPLETED,
            received_at=record.received_at,
            due_at=record.due_at,
            updated_at=at,
            systems=systems,
        )
        await store.record_status(summary, _accepted(record, at))
        activities = OrchestratorActivities(store, _Quiet(), [], load_policy(None))
        await ActivityEnvironment().run(activities.record_completion, record)
        await ActivityEnvironment().run(activities.record_completion, record)  # a retry
        trail = await store.audit_trail(record.request_id)
    finally:
        await store.close()
    art19 = [
        e for e in trail if e.action in (AuditAction.RECIPIENT_NOTIFIED, AuditAction.RECIPIENT_TASK)
    ]
    assert [(e.action, e.details["recipient"]) for e in art19] == [
        (AuditAction.RECIPIENT_TASK, "card-payment-provider"),
        (AuditAction.RECIPIENT_NOTIFIED, "se-registry"),
    ], "one entry per recipient, none twice after a retry"
    task = art19[0]
    assert "merchant portal" in str(task.details["task"]) and task.actor == "workflow"
    assert art19[1].actor == "connector:registrar" and "task" not in art19[1].details


class _Quiet:
    async def publish(self, summary: RequestSummary) -> None:
        return None


def _accepted(record: CompletionRecord, at: datetime) -> AuditEvent:
    return AuditEvent(
        request_id=record.request_id,
        action=AuditAction.REQUEST_ACCEPTED,
        actor="intake",
        at=at,
        dedupe_key=f"{record.request_id}/accepted",
    )
