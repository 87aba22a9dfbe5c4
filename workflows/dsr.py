"""DsrWorkflow: one durable workflow per data-subject request.

    policy → deadline → gate → discover → execute → verify → record → publish status
                 └─ deadline clock: reminders at 7 days and 1 day left, and when overdue

Deterministic and small: it holds identifiers and references, decides, and delegates every
I/O to activities (connectors on their own task queues; store and Kafka on the orchestrator's),
called through the typed references in `workflows.contracts`. It imports only `schemas` and
`policy`. Status changes are published at each step, so the portal and the DPO always see where
it is.

DPO decisions are Temporal Updates with validators (`confirm_identity`, `approve`, `deny`,
`extend`, `cancel`, `resolve_system`, `retry_system`, `skip_system`, `narrow_subject`): an
invalid decision is rejected before it is written to history, so it changes nothing and the
caller gets the reason. An accepted one is in the audit trail (actor, time, reason) before the
request moves on.
"""

# No `from __future__ import annotations` here, deliberately: the sandbox re-executes this
# module for every workflow run, and Temporal's decorators resolve string annotations with
# eval through the sandbox's import proxies — real annotation objects are far cheaper.
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    # pydantic imports email_validator lazily when it first validates an EmailStr; importing it
    # here keeps that import out of the workflow sandbox.
    import email_validator  # noqa: F401

    from policy.deadlines import (
        ANSWER_PERIOD_MONTHS,
        MAX_EXTENSION_MONTHS,
        DeadlineCalendar,
        add_months,
        deadline,
        local_date,
        reminders_for,
        repeat_window_start,
        verification_deadline,
    )
    from policy.model import Policy
    from policy.planner import RIGHTS_ORIGINAL, RIGHTS_SEPARATED, plan_request
    from policy.verification import leftovers
    from schemas.connectors import ConnectorInfo, Operation
    from schemas.events import DsrRequestedData, RequestKind
    from schemas.identifiers import IdentifierType
    from schemas.package import ExpiryCall, PackageBuild, PackagedSystem
    from schemas.plan import Plan, PlanAction, SystemPlan
    from schemas.records import AuditAction, CompletionRecord, RequestSummary
    from schemas.results import (
        EraseResult,
        ExportResult,
        LocateResult,
        RecipientNotification,
        RectifyResult,
        RestrictResult,
        UnsubscribeResult,
    )
    from schemas.status import (
        DecisionEntry,
        DecisionKind,
        DenialCode,
        Extension,
        ReminderEntry,
        RequestStatus,
        SystemOutcome,
        SystemStatus,
    )
    from schemas.subject import Identifier, SubjectRef
    from schemas.workflow import (
        Approve,
        Cancel,
        ConnectorCall,
        DecisionReceipt,
        Deny,
        DsrWorkflowInput,
        Extend,
        IdentityConfirmation,
        NarrowSubject,
        RepeatCheck,
        ResolveSystem,
        RetrySystem,
        SkipSystem,
        StatusUpdate,
    )
    from workflows.contracts import ConnectorOps, OrchestratorOps
    from workflows.follow_up import start_deferred_erasures
    from workflows.packaging import PackageExpiryWorkflow, PackagingOps, expiry_workflow_id

__all__ = ["PERMANENT_ERROR_TYPES", "DecisionRejected", "DsrWorkflow"]

# Connector errors that retrying cannot fix (see connectors.base._errors).
PERMANENT_ERROR_TYPES = [
    "PermanentError",
    "ConfigurationError",
    "AuthenticationError",
    "AmbiguousSubject",
    "UnsupportedOperation",
]
_ORCHESTRATOR_TIMEOUT = timedelta(seconds=30)
_ORCHESTRATOR_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
# From this patch on, the orchestrator's own bookkeeping (policy, status, repeat check, the
# connector list, the completion record) runs as local activities on the workflow's worker:
# no round trip through the server and no workflow task of its own per step — the five steps
# before discovery complete within the first workflow task (bench/e2e.py, A/B on this machine:
# the server's CPU per request down by about a quarter, a single request's p50 by 13-28 %).
# Histories recorded before it replay with the regular activities (tests/histories).
LOCAL_BOOKKEEPING_PATCH = "local-bookkeeping-v1"
# From this patch on, `build_package` itself starts the package's expiry timer (its own
# workflow, by id, once however often the activity runs) before it returns the reference, so the
# request no longer starts it as a child: a child start is a round trip through the server and a
# workflow task of its own before the request can complete (~100 ms of one request's 0.55 s on
# the dev server, bench/e2e.py). Histories recorded before it replay with the child.
EXPIRY_BY_PACKAGE_PATCH = "expiry-by-package-v1"
# From this patch on, a request the deployment cannot carry out as its scope is written waits
# for the DPO before anything is touched (AWAITING_DECISION, like a repeated copy request): one
# scoped to purposes, for the kinds whose effect a purpose bounds (an erasure carried out as if
# unscoped would erase more than was asked; which categories a purpose covers is the DPO's
# call, not the connectors'), or naming systems this deployment has no connector for (carried
# out without them, it completed with nothing done there and nobody told). The DPO approves
# (as written: the named systems that exist, every purpose), denies or cancels.
SCOPE_GATE_PATCH = "scope-gate-v1"
# From this patch on, the workflow reads the company's calendar where it had read UTC's: an
# unverified request is denied by its one-month due moment at the latest (Art. 12(4); the
# policy's 30-day wait outran February), "today" for the plan and the connectors is the
# Stockholm day (until-dates are Stockholm days: at 00:30 on 1 January the UTC date still kept
# the vouchers whose last day had ended), and the repeat window is counted on the local wall
# clock (the same instant gave two windows, by the offset the portal wrote it with).
LOCAL_CALENDAR_PATCH = "local-calendar-v1"
# From this patch on, a request that ends without completing (cancelled or denied by the DPO
# after systems were already erased and verified) still starts the deferred erasure of what
# those systems retained: it was already promised (the completion record says until when), and
# without it the retained records would outlive their retention for good.
DEFERRED_ON_CLOSE_PATCH = "deferred-erasure-on-close-v1"
# From this patch on, objection and consent withdrawal are planned apart (policy.planner's
# RIGHTS_SEPARATED): a withdrawal stops what rests on consent, WHOIS publication included; an
# objection also puts processing under legitimate interest before the DPO (Art. 21(1)). Before
# it both stopped direct marketing only. Asked only for those two kinds.
RIGHTS_SEPARATED_PATCH = "rights-separated-v1"
_RIGHTS_KINDS = frozenset({RequestKind.OBJECTION, RequestKind.CONSENT_WITHDRAWAL})
# From this patch on, a system that holds a field but did not apply the value asked for (a value
# it cannot store, another record's address, a field only a person changes) is a person's task
# (`manual`, saying which fields and why) instead of "done": the request must not tell the
# subject their data was corrected when it was not (Art. 12(3)-(4), 16).
RECTIFY_REFUSALS_PATCH = "rectify-refusals-v1"
# From this patch on, a request narrowed by the DPO to one person (`narrow_subject`) is
# discovered again in full rounds that learn only identifiers no two people share (below), not
# in one round by the narrowing identifier alone: the systems that cannot search by it (hosting,
# newsletter and support hold no personnummer) found "nothing" and the subject's account,
# subscriber and tickets stayed behind an erasure reported complete. Asked only when narrowing.
NARROW_REDISCOVERY_PATCH = "narrow-rediscovery-v1"
_NARROWED_LEARNS = frozenset(
    {
        IdentifierType.PERSONAL_IDENTITY_NUMBER,
        IdentifierType.CUSTOMER_NUMBER,
        IdentifierType.ACCOUNT_NAME,
    }
)
# From this patch on, a system that found nothing while it could search by none of the
# subject's identifiers is a person's task (`manual`, naming what it searches by), not
# `not_found`: it was never asked. Asked only when that happens.
UNSEARCHABLE_PATCH = "unsearchable-is-manual-v1"
R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")

# Kinds whose effect a purpose would bound (an access copy or a rectification reaching beyond
# the purposes named takes nothing from the subject).
_PURPOSE_BOUND_KINDS = frozenset(
    {
        RequestKind.ERASURE,
        RequestKind.RESTRICTION,
        RequestKind.OBJECTION,
        RequestKind.CONSENT_WITHDRAWAL,
    }
)
# What each request kind asks of a connector that holds data about the subject.
_OPERATION_FOR_KIND = {
    RequestKind.ACCESS: Operation.EXPORT,
    RequestKind.PORTABILITY: Operation.EXPORT,
    RequestKind.ERASURE: Operation.ERASE,
    RequestKind.RECTIFICATION: Operation.RECTIFY,
    RequestKind.RESTRICTION: Operation.RESTRICT,
    RequestKind.OBJECTION: Operation.UNSUBSCRIBE,
    RequestKind.CONSENT_WITHDRAWAL: Operation.UNSUBSCRIBE,
}
# The typed activity behind each connector operation.
_CONNECTOR_OPS: dict[Operation, Callable[[ConnectorOps, ConnectorCall], Awaitable[BaseModel]]] = {
    Operation.LOCATE: ConnectorOps.locate,
    Operation.EXPORT: ConnectorOps.export,
    Operation.ERASE: ConnectorOps.erase,
    Operation.RECTIFY: ConnectorOps.rectify,
    Operation.RESTRICT: ConnectorOps.restrict,
    Operation.UNSUBSCRIBE: ConnectorOps.unsubscribe,
}
# Kinds for which the policy promises one free copy a year (Art. 15(3), 20); an earlier request
# is a repeat only if it is of the same kind (the check_repeat activity).
_COPY_KINDS = (RequestKind.ACCESS, RequestKind.PORTABILITY)
_STUCK = (SystemOutcome.FAILED, SystemOutcome.MANUAL)
# What a DPO may record for a system handled by hand (skipping is `skip_system`).
_RESOLVABLE_OUTCOMES = (SystemOutcome.DONE, SystemOutcome.NOT_FOUND)
# Identifiers that single out one person, as a DPO narrows an ambiguous match by them.
_NARROWING_IDENTIFIERS = (
    IdentifierType.PERSONAL_IDENTITY_NUMBER,
    IdentifierType.ORGANISATION_NUMBER,
    IdentifierType.CUSTOMER_NUMBER,
)


class DecisionRejected(ApplicationError):
    """An Update validator's verdict: the decision is not possible now, and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="DecisionRejected", non_retryable=True)


def _reject(message: str) -> None:
    raise DecisionRejected(message)


def _rectify_reason(result: RectifyResult) -> str:
    """Which fields a person must see to, and why (field names only: never the values)."""
    parts = []
    if result.refused_fields:
        parts.append(
            f"the value given could not be stored here for {', '.join(result.refused_fields)} "
            "(not valid in this system, or another record's): ask the subject or correct it by hand"
        )
    if result.unchanged_fields:
        parts.append(
            f"{', '.join(result.unchanged_fields)} held here but changed only by a person: "
            "correct it by hand"
        )
    if result.rejected_fields:
        parts.append(f"not held here: {', '.join(result.rejected_fields)}")
    return "; ".join(parts)


def _recipients(notifications: list[RecipientNotification]) -> list[str]:
    return sorted({n.recipient for n in notifications})


_ERASED_LABELS = {PlanAction.DELETE: "deleted", PlanAction.ANONYMISE: "anonymised"}


def _verified_counts(reported: dict[str, int], plan: SystemPlan) -> dict[str, int]:
    """What the completion record says was deleted and anonymised, once verification found
    nothing of it left: at least what the plan counted. A connector reports what its last
    attempt did, and an attempt that crashed after erasing (the worker killed, an outage before
    it could answer) is retried by Temporal: the retry finds nothing left and reports zeros, so
    the proof would say nothing was erased. The plan's count is what `locate` found before, and
    the locate after has found none of it: that is observed, not assumed. Per category, only
    the shortfall is filled in (a connector may rightly report part of a planned deletion as
    anonymised, e.g. its roles taken off another customer's record), each kind up to its own
    planned count."""
    planned: dict[str, dict[str, int]] = {}
    for action in plan.actions:
        label = _ERASED_LABELS.get(action.action)
        if label is not None and action.count:
            kinds = planned.setdefault(action.category, {})
            kinds[label] = kinds.get(label, 0) + action.count
    counts = dict(reported)
    for category, kinds in planned.items():
        done = sum(reported.get(f"{label}.{category}", 0) for label in _ERASED_LABELS.values())
        shortfall = sum(kinds.values()) - done
        for label, count in kinds.items():
            if shortfall <= 0:
                break
            key = f"{label}.{category}"
            added = min(shortfall, max(0, count - reported.get(key, 0)))
            if added:
                counts[key] = reported.get(key, 0) + added
                shortfall -= added
    return counts


# Type "DsrWorkflowV2": workflows begun under the first generation ("DsrWorkflow") replay against
# the frozen copy in workflows/dsr_v1.py; changes to this one are versioned with workflow.patched
# once its histories are committed (tests/histories/v2_*.json).
@workflow.defn(name="DsrWorkflowV2")
class DsrWorkflow:
    def __init__(self) -> None:
        self._summary: RequestSummary | None = None
        self._params: DsrWorkflowInput | None = None
        self._policy: Policy | None = None  # the effective policy, loaded first (an activity)
        self._plan: Plan | None = None  # what the policy decided, per system (the plan step)
        self._calendar = DeadlineCalendar()
        self._rights = RIGHTS_SEPARATED  # objection / withdrawal rules (RIGHTS_SEPARATED_PATCH)
        self._transitions = 0
        # Publishing is serialised: the store and the portal see states in the order they arose.
        self._publish_lock = asyncio.Lock()
        # Decision state. Validators read it; handlers change it before their first await.
        self._identity_confirmed = False
        self._approved = False
        self._ending: tuple[RequestStatus, str] | None = None  # denied/cancelled, and why
        self._retry: set[str] = set()
        self._narrowed: SubjectRef | None = None
        self._recording = 0  # decisions whose audit entry is still being written
        self._deadline_moved = 0  # bumped by an extension: the clock re-plans its reminders
        self._finishing = False

    # ── queries ────────────────────────────────────────────────────────────────────────────
    @workflow.query(name="status")
    def status(self) -> RequestSummary | None:
        return self._summary

    @workflow.query(name="plan")
    def plan(self) -> Plan | None:
        """What the policy decided for this request, per system and category (no data)."""
        return self._plan

    # ── decisions (Updates) ────────────────────────────────────────────────────────────────
    @workflow.update(name="confirm_identity")
    async def confirm_identity(self, decision: IdentityConfirmation) -> DecisionReceipt:
        self._identity_confirmed = True
        return await self._decided(
            DecisionKind.CONFIRM_IDENTITY,
            decision.actor,
            reason=None,
            details={"method": decision.method},
        )

    @confirm_identity.validator
    def _validate_confirm_identity(self, decision: IdentityConfirmation) -> None:
        self._check_actor(decision.actor)
        self._check_waiting("confirm_identity", RequestStatus.AWAITING_VERIFICATION)
        if self._identity_confirmed:
            _reject("identity is already confirmed")

    @workflow.update(name="approve")
    async def approve(self, decision: Approve) -> DecisionReceipt:
        self._approved = True
        return await self._decided(DecisionKind.APPROVE, decision.actor, reason=decision.note)

    @approve.validator
    def _validate_approve(self, decision: Approve) -> None:
        self._check_actor(decision.actor)
        self._check_waiting("approve", RequestStatus.AWAITING_DECISION)
        if self._approved:
            _reject("the request is already approved")

    @workflow.update(name="deny")
    async def deny(self, decision: Deny) -> DecisionReceipt:
        assert decision.reason_code is not None  # the validator saw to it
        reason = decision.reason_code.value + (f": {decision.note}" if decision.note else "")
        self._ending = (RequestStatus.DENIED, reason)
        return await self._decided(
            DecisionKind.DENY,
            decision.actor,
            reason=reason,
            details={"reason_code": decision.reason_code.value},
        )

    @deny.validator
    def _validate_deny(self, decision: Deny) -> None:
        self._check_actor(decision.actor)
        self._check_waiting(
            "deny", RequestStatus.AWAITING_VERIFICATION, RequestStatus.AWAITING_DECISION
        )
        if decision.reason_code is None:
            _reject(
                "deny needs a reason code: one of " + ", ".join(code.value for code in DenialCode)
            )
        if decision.reason_code is DenialCode.OTHER and not decision.note.strip():
            _reject("deny with reason code 'other' needs a note saying why")

    @workflow.update(name="extend")
    async def extend(self, decision: Extend) -> DecisionReceipt:
        summary = self._require_summary()
        due_day, due_at = deadline(
            summary.received_at, ANSWER_PERIOD_MONTHS + decision.months, self._calendar
        )
        extension = Extension(
            months=decision.months,
            reason=decision.reason.strip(),
            extended_at=workflow.now(),
            original_due_date=summary.due_date or due_day,
            due_date=due_day,
            due_at=due_at,
        )
        self._summary = summary.model_copy(
            update={"extension": extension, "due_date": due_day, "due_at": due_at}
        )
        self._deadline_moved += 1
        return await self._decided(
            DecisionKind.EXTEND,
            decision.actor,
            reason=extension.reason,
            details={"months": str(decision.months), "due_date": due_day.isoformat()},
            action=AuditAction.DEADLINE_EXTENDED,
        )

    @extend.validator
    def _validate_extend(self, decision: Extend) -> None:
        self._check_actor(decision.actor)
        self._check_open("extend")
        summary = self._require_summary()
        if summary.extension is not None:
            _reject(
                f"the deadline was already extended on {summary.extension.extended_at:%Y-%m-%d}"
                " (Art. 12(3) allows one extension)"
            )
        if decision.months not in range(1, MAX_EXTENSION_MONTHS + 1):
            _reject(f"an extension is 1 or 2 months, not {decision.months}")
        if not decision.reason.strip():
            _reject("an extension needs a reason (the subject is told why)")
        if workflow.now() > summary.due_at:
            _reject(f"the deadline {summary.due_at.date().isoformat()} has passed")

    @workflow.update(name="cancel")
    async def cancel(self, decision: Cancel) -> DecisionReceipt:
        self._ending = (RequestStatus.CANCELLED, decision.reason.strip())
        return await self._decided(
            DecisionKind.CANCEL, decision.actor, reason=decision.reason.strip()
        )

    @cancel.validator
    def _validate_cancel(self, decision: Cancel) -> None:
        self._check_actor(decision.actor)
        self._check_waiting(
            "cancel",
            RequestStatus.AWAITING_VERIFICATION,
            RequestStatus.AWAITING_DECISION,
            RequestStatus.NEEDS_ATTENTION,
        )
        if not decision.reason.strip():
            _reject("cancel needs a reason")

    @workflow.update(name="resolve_system")
    async def resolve_system(self, decision: ResolveSystem) -> DecisionReceipt:
        self._update(
            decision.system, outcome=decision.outcome, reason=f"by hand: {decision.note.strip()}"
        )
        return await self._decided(
            DecisionKind.RESOLVE_SYSTEM,
            decision.actor,
            reason=decision.note.strip(),
            system=decision.system,
            details={"outcome": decision.outcome.value},
        )

    @resolve_system.validator
    def _validate_resolve_system(self, decision: ResolveSystem) -> None:
        self._check_actor(decision.actor)
        self._check_stuck_system("resolve", decision.system)
        if decision.outcome not in _RESOLVABLE_OUTCOMES:
            _reject(
                f"a system is resolved as {' or '.join(o.value for o in _RESOLVABLE_OUTCOMES)}"
                f", not {decision.outcome.value} (use skip_system to skip it)"
            )
        if not decision.note.strip():
            _reject("resolve needs a note saying what was done by hand")

    @workflow.update(name="retry_system")
    async def retry_system(self, decision: RetrySystem) -> DecisionReceipt:
        self._retry.add(decision.system)
        return await self._decided(
            DecisionKind.RETRY_SYSTEM, decision.actor, reason=None, system=decision.system
        )

    @retry_system.validator
    def _validate_retry_system(self, decision: RetrySystem) -> None:
        self._check_actor(decision.actor)
        self._check_stuck_system("retry", decision.system)
        if decision.system in self._retry:
            _reject(f"{decision.system} is already to be retried")

    @workflow.update(name="skip_system")
    async def skip_system(self, decision: SkipSystem) -> DecisionReceipt:
        reason = decision.reason.strip()
        self._update(decision.system, outcome=SystemOutcome.SKIPPED, reason=f"skipped: {reason}")
        return await self._decided(
            DecisionKind.SKIP_SYSTEM, decision.actor, reason=reason, system=decision.system
        )

    @skip_system.validator
    def _validate_skip_system(self, decision: SkipSystem) -> None:
        self._check_actor(decision.actor)
        self._check_stuck_system("skip", decision.system)
        if not decision.reason.strip():
            _reject("skip needs a reason")

    @workflow.update(name="narrow_subject")
    async def narrow_subject(self, decision: NarrowSubject) -> DecisionReceipt:
        held = [s.system for s in self._require_summary().systems if s.outcome in _STUCK]
        self._narrowed = SubjectRef(identifiers=(decision.identifier,))
        self._retry.update(held)
        # The identifier's value is personal data: only its type goes to the audit trail.
        return await self._decided(
            DecisionKind.NARROW_SUBJECT,
            decision.actor,
            reason=None,
            details={"identifier_type": decision.identifier.type.value},
        )

    @narrow_subject.validator
    def _validate_narrow_subject(self, decision: NarrowSubject) -> None:
        self._check_actor(decision.actor)
        self._check_waiting("narrow", RequestStatus.NEEDS_ATTENTION)
        if not any(s.outcome is SystemOutcome.MANUAL for s in self._require_summary().systems):
            _reject("nothing is held for an ambiguous identity: there is nothing to narrow")
        if decision.identifier.type not in _NARROWING_IDENTIFIERS:
            _reject(
                "narrow by an identifier that singles out one person: "
                + ", ".join(t.value for t in _NARROWING_IDENTIFIERS)
            )
        if not decision.identifier.value.strip():
            _reject("the identifier is empty")

    # ── validator helpers (read-only) ──────────────────────────────────────────────────────
    @staticmethod
    def _check_actor(actor: str) -> None:
        if not actor.strip():
            _reject("a decision needs an actor (who decided)")

    def _check_open(self, decision: str) -> None:
        summary = self._summary
        if summary is None:
            _reject("the request is still starting; try again in a moment")
        assert summary is not None
        if self._finishing or self._ending is not None:
            _reject(f"cannot {decision}: the request is closing ({summary.status.value})")

    def _check_waiting(self, decision: str, *statuses: RequestStatus) -> None:
        self._check_open(decision)
        current = self._require_summary().status
        if current not in statuses:
            _reject(
                f"cannot {decision} a request in {current.value}; only in "
                + " or ".join(s.value for s in statuses)
            )

    def _check_stuck_system(self, decision: str, system: str) -> None:
        self._check_waiting(decision, RequestStatus.NEEDS_ATTENTION)
        systems = {s.system: s for s in self._require_summary().systems}
        if system not in systems:
            _reject(
                f"unknown system {system!r}; this request's systems are: "
                + (", ".join(sorted(systems)) or "none")
            )
        outcome = systems[system].outcome
        if outcome not in _STUCK:
            _reject(f"{system} is {outcome.value}: only failed or manual systems need a decision")

    async def _decided(
        self,
        kind: DecisionKind,
        actor: str,
        *,
        reason: str | None,
        system: str | None = None,
        details: dict[str, str] | None = None,
        action: AuditAction = AuditAction.DECISION,
    ) -> DecisionReceipt:
        """Record an accepted decision in the summary and the audit trail, then let the request
        move on (the main flow waits while `_recording`)."""
        entry = DecisionEntry(
            decision=kind,
            actor=actor.strip(),
            at=workflow.now(),
            reason=reason or None,
            system=system,
            details=details or {},
        )
        summary = self._require_summary()
        self._summary = summary.model_copy(update={"decisions": [*summary.decisions, entry]})
        self._recording += 1
        try:
            await self._publish(
                None,
                action=action,
                actor=entry.actor,
                details={
                    "decision": kind.value,
                    **({"reason": entry.reason} if entry.reason else {}),
                    **({"system": system} if system else {}),
                    **entry.details,
                },
            )
        finally:
            self._recording -= 1
        current = self._require_summary()
        return DecisionReceipt(
            request_id=current.request_id,
            decision=kind.value,
            status=current.status,
            due_date=current.due_date,
            due_at=current.due_at,
        )

    async def _settled(
        self, condition: Callable[[], bool], within: timedelta | None = None
    ) -> bool:
        """Wait until `condition` holds and no decision is still being recorded (False if
        `within` passes first)."""
        try:
            await workflow.wait_condition(
                lambda: self._recording == 0 and condition(), timeout=within
            )
        except TimeoutError:
            return False
        return True

    # ── the request ────────────────────────────────────────────────────────────────────────
    @workflow.run
    async def run(self, params: DsrWorkflowInput) -> CompletionRecord:
        request = params.request
        self._params = params
        policy = await self._bookkeeping(OrchestratorOps.load_policy)
        self._policy = policy
        self._calendar = policy.calendar()
        # The rights' rules are fixed with the policy they read, at the same moment: a request
        # that loaded an older policy (no `consent_use`) keeps the older rules all the way.
        if request.kind in _RIGHTS_KINDS and not workflow.patched(RIGHTS_SEPARATED_PATCH):
            self._rights = RIGHTS_ORIGINAL
        due_day, due_at = deadline(request.received_at, ANSWER_PERIOD_MONTHS, self._calendar)
        self._summary = RequestSummary(
            request_id=request.request_id,
            kind=request.kind,
            channel=request.channel,
            status=RequestStatus.RECEIVED,
            received_at=request.received_at,
            due_at=due_at,
            due_date=due_day,
            updated_at=workflow.now(),
        )
        await self._publish(
            RequestStatus.RECEIVED,
            action=AuditAction.REQUEST_ACCEPTED,
            details={"event_id": params.event_id, "channel": request.channel.value},
        )
        clock = asyncio.create_task(self._deadline_clock())
        try:
            return await self._lifecycle(params)
        finally:
            self._finishing = True
            clock.cancel()

    async def _lifecycle(self, params: DsrWorkflowInput) -> CompletionRecord:
        if not await self._gate(params):
            return await self._close(params)

        await self._publish(RequestStatus.IN_PROGRESS)
        connectors = await self._bookkeeping(
            OrchestratorOps.list_connectors,
            params.request.scope.systems if params.request.scope else [],
        )
        self._set_systems([SystemStatus(system=c.name) for c in connectors])

        subject = await self._attempt(params, connectors, None)
        while self._overall_status() is not RequestStatus.COMPLETED:
            # Something failed or needs a human: the DPO decides per system (retry, resolve,
            # skip), narrows an ambiguous subject, or cancels.
            await self._publish(RequestStatus.NEEDS_ATTENTION)
            await self._settled(
                lambda: (
                    bool(self._retry)
                    or self._ending is not None
                    or self._overall_status() is RequestStatus.COMPLETED
                )
            )
            if self._ending is not None:
                return await self._close(params)
            if not self._retry:
                break  # every stuck system was resolved or skipped by hand
            names = set(self._retry)
            self._retry.clear()
            rounds = None
            learn_only: frozenset[IdentifierType] | None = None
            if self._narrowed is not None:
                subject = self._narrowed
                if workflow.patched(NARROW_REDISCOVERY_PATCH):
                    learn_only = _NARROWED_LEARNS  # that person's own numbers, never shared ones
                else:
                    rounds = 1  # that person only: learn nothing wider
                self._narrowed = None
            retried = [c for c in connectors if c.name in names]
            for info in retried:
                self._update(info.name, outcome=SystemOutcome.PENDING, reason=None)
            await self._publish(RequestStatus.IN_PROGRESS)
            subject = await self._attempt(
                params, retried, subject, rounds=rounds, learn_only=learn_only
            )

        await self._package(params)
        return await self._finish(params, RequestStatus.COMPLETED)

    async def _attempt(
        self,
        params: DsrWorkflowInput,
        connectors: list[ConnectorInfo],
        subject: SubjectRef | None,
        *,
        rounds: int | None = None,
        learn_only: frozenset[IdentifierType] | None = None,
    ) -> SubjectRef:
        """One pass over `connectors`: discover, hold on ambiguity, execute what is pending."""
        subject, located = await self._discover(
            params, connectors, subject, rounds=rounds, learn_only=learn_only
        )
        self._hold_if_ambiguous(located)
        pending = [c for c in connectors if self._system(c.name).outcome is SystemOutcome.PENDING]
        await self._execute(params, subject, pending, located)
        return subject

    async def _package(self, params: DsrWorkflowInput) -> None:
        """Access/portability: one encrypted archive from the systems' encrypted parts (built
        on the orchestrator's queue), and its durable expiry timer — a workflow of its own that
        outlives this one and needs nothing of this request but its id, started by the package
        activity (EXPIRY_BY_PACKAGE_PATCH; before it, here as an ABANDONed child)."""
        request = params.request
        if request.kind not in (RequestKind.ACCESS, RequestKind.PORTABILITY):
            return
        # What the plan left out of each export (portability: not portable) goes with it, by
        # name: the export dropped it, counts and all, and the manifest names it (`excluded`).
        exported = [
            PackagedSystem(
                system=s.system, counts=s.counts, excluded=list(self._slice(s.system).skipped)
            )
            for s in self._require_summary().systems
            if s.outcome is SystemOutcome.DONE and s.export is not None
        ]
        if not exported:
            return  # nothing found anywhere: the systems' `not_found` outcomes are the answer
        ref = await workflow.execute_activity_method(
            PackagingOps.build_package,
            PackageBuild(
                request_id=request.request_id,
                kind=request.kind.value,
                locale=request.locale.value,
                created_at=workflow.now(),
                systems=exported,
            ),
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=_ORCHESTRATOR_RETRY,
        )
        self._summary = self._require_summary().model_copy(update={"package": ref})
        if workflow.patched(EXPIRY_BY_PACKAGE_PATCH):
            return  # the package activity started its expiry timer
        # A timer from an earlier run of this request may already watch the package.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                PackageExpiryWorkflow.run,
                ExpiryCall(request_id=request.request_id, expires_at=ref.expires_at),
                id=expiry_workflow_id(request.request_id),
                task_queue=workflow.info().task_queue,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )

    async def _close(self, params: DsrWorkflowInput) -> CompletionRecord:
        """A request that ends without being carried out: denied or cancelled, with the reason."""
        assert self._ending is not None
        status, reason = self._ending
        self._summary = self._require_summary().model_copy(update={"reason": reason})
        return await self._finish(params, status)

    async def _gate(self, params: DsrWorkflowInput) -> bool:
        """Before anything is touched: identity confirmed (policy: 'identitet bekräftas'); then
        a repeated access/portability request within the policy's window, or a scope this
        deployment cannot carry out as written (SCOPE_GATE_PATCH), decided by the DPO."""
        request = params.request
        policy = self._require_policy()
        if not request.verification.is_verified:
            await self._publish(RequestStatus.AWAITING_VERIFICATION)
            days = policy.verification_timeout_days
            limit = request.received_at + timedelta(days=days)
            if workflow.patched(LOCAL_CALENDAR_PATCH):
                limit = verification_deadline(request.received_at, days, self._calendar)
                days = (limit - request.received_at).days
            remaining = limit - workflow.now()
            decided = remaining > timedelta(0) and await self._settled(
                lambda: self._identity_confirmed or self._ending is not None, within=remaining
            )
            if not decided:
                await self._deny_unverified(days)
            if self._ending is not None:
                return False

        # Why the DPO must decide before anything is touched (none: go on).
        reasons: list[str] = []
        details: dict[str, object] | None = None
        if workflow.patched(SCOPE_GATE_PATCH):
            reasons += await self._scope_problems(request)
        if request.kind in _COPY_KINDS and policy.repeat_request_months > 0:
            months = policy.repeat_request_months
            since = (
                repeat_window_start(request.received_at, months, self._calendar)
                if workflow.patched(LOCAL_CALENDAR_PATCH)
                else add_months(request.received_at, -months)
            )
            repeat = await self._bookkeeping(
                OrchestratorOps.check_repeat,
                RepeatCheck(
                    request_id=request.request_id,
                    kind=request.kind.value,
                    received_at=request.received_at,
                    since=since,
                    subject=SubjectRef.from_subject(request.subject),
                ),
            )
            if repeat.earlier_request_ids:
                reasons.insert(
                    0,
                    f"repeated request: {len(repeat.earlier_request_ids)} earlier "
                    f"{request.kind.value} request(s) within "
                    f"{policy.repeat_request_months} months",
                )
                details = {"earlier_requests": repeat.earlier_request_ids}
        if reasons:
            self._summary = self._require_summary().model_copy(
                update={"reason": "; ".join(reasons)}
            )
            await self._publish(RequestStatus.AWAITING_DECISION, details=details)
            await self._settled(lambda: self._approved or self._ending is not None)
            if self._ending is not None:
                return False
            self._summary = self._require_summary().model_copy(update={"reason": None})
        return True

    async def _scope_problems(self, request: DsrRequestedData) -> list[str]:
        """What in the customer's scope this deployment cannot carry out as written (no
        names: a scope is the customer's free text)."""
        scope = request.scope
        if scope is None:
            return []
        problems = []
        if scope.purposes and request.kind in _PURPOSE_BOUND_KINDS:
            problems.append(
                f"scoped to {len(scope.purposes)} purpose(s): which data that covers is a "
                "DPO's decision (carried out unscoped, it would reach beyond what was asked)"
            )
        if scope.systems:
            here = await self._bookkeeping(OrchestratorOps.list_connectors, [])
            unknown = set(scope.systems) - {c.name for c in here}
            if unknown:
                problems.append(
                    f"{len(unknown)} of the {len(set(scope.systems))} system(s) it names "
                    "have no connector here"
                )
        return problems

    async def _deny_unverified(self, days: int) -> None:
        """The verification wait ran out: denied as insufficient_verification, by the workflow."""
        reason = (
            f"{DenialCode.INSUFFICIENT_VERIFICATION.value}: identity not verified in {days} days"
        )
        self._ending = (RequestStatus.DENIED, reason)
        await self._decided(
            DecisionKind.DENY,
            "workflow",
            reason=reason,
            details={"reason_code": DenialCode.INSUFFICIENT_VERIFICATION.value},
        )

    # ── the legal clock ────────────────────────────────────────────────────────────────────
    async def _clock_wait(self, moved: int, within: timedelta | None) -> None:
        """Until the next reminder is due, the deadline moves, or the request finishes."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._finishing or self._deadline_moved != moved, timeout=within
            )

    async def _deadline_clock(self) -> None:
        """Durable reminders (timers in the workflow's history): when 7 days and 1 day remain and
        when the request becomes overdue, a status event and an audit entry. An extension moves
        the deadline: the clock re-plans for the new one."""
        while not self._finishing:
            summary = self._require_summary()
            due_day = summary.due_date
            assert due_day is not None
            fired = {(r.key, r.due_date) for r in summary.reminders}
            upcoming = [r for r in reminders_for(summary.due_at) if (r.key, due_day) not in fired]
            moved = self._deadline_moved
            now = workflow.now()
            due_now = [r for r in upcoming if r.at <= now]
            if not due_now:
                await self._clock_wait(moved, upcoming[0].at - now if upcoming else None)
                continue
            # Several already due (a late start): say the latest, record the others as passed.
            reminder = due_now[-1]
            entries = [ReminderEntry(key=r.key, at=now, due_date=due_day) for r in due_now]
            self._summary = summary.model_copy(update={"reminders": [*summary.reminders, *entries]})
            await self._publish(
                None,
                action=AuditAction.DEADLINE_REMINDER,
                details={"reminder": reminder.key, "due_date": due_day.isoformat()},
            )

    async def _discover(
        self,
        params: DsrWorkflowInput,
        connectors: list[ConnectorInfo],
        subject: SubjectRef | None = None,
        *,
        rounds: int | None = None,
        learn_only: frozenset[IdentifierType] | None = None,
    ) -> tuple[SubjectRef, dict[str, LocateResult]]:
        """Locate in every system; identifiers learned in one system are searched in all (only
        those of `learn_only`'s types, when given)."""
        subject = subject or SubjectRef.from_subject(params.request.subject)
        located: dict[str, LocateResult] = {}
        asked: dict[str, SubjectRef] = {}  # what each system's latest locate searched by
        for _round in range(rounds or params.tuning.discovery_rounds):
            results = await asyncio.gather(
                *(
                    self._call(params, c, Operation.LOCATE, subject, LocateResult)
                    for c in connectors
                ),
                return_exceptions=True,
            )
            learned: list[Identifier] = []
            for info, result in zip(connectors, results, strict=True):
                if isinstance(result, BaseException):
                    self._fail(info.name, result)
                    continue
                assert isinstance(result, LocateResult)
                located[info.name] = result
                asked[info.name] = subject
                learned.extend(
                    i for i in result.learned if learn_only is None or i.type in learn_only
                )
            grown = subject.merged(learned)
            if len(grown.identifiers) == len(subject.identifiers):
                break
            subject = grown
        for info in connectors:
            where = located.get(info.name)
            if where is None:
                continue
            if where.ambiguous:
                self._update(
                    info.name,
                    outcome=SystemOutcome.MANUAL,
                    counts=where.counts,
                    reason=where.ambiguity_reason or "ambiguous identity",
                )
            elif not where.found and self._never_asked(info, asked[info.name]):
                self._update(
                    info.name,
                    outcome=SystemOutcome.MANUAL,
                    counts={},
                    reason=(
                        f"{info.name} searches by "
                        f"{', '.join(sorted(t.value for t in info.search_identifiers))}, and none "
                        "of these is known for the subject: search it by hand"
                    ),
                )
            elif not where.found:
                self._update(info.name, outcome=SystemOutcome.NOT_FOUND, counts={})
            else:
                self._update(info.name, outcome=SystemOutcome.PENDING, counts=where.counts)
        return subject, located

    @staticmethod
    def _never_asked(info: ConnectorInfo, subject: SubjectRef) -> bool:
        """Whether the system could search by none of the subject's identifiers (its "not
        found" means nothing then; UNSEARCHABLE_PATCH)."""
        if {i.type for i in subject.identifiers} & set(info.search_identifiers):
            return False
        return workflow.patched(UNSEARCHABLE_PATCH)

    def _hold_if_ambiguous(self, located: dict[str, LocateResult]) -> None:
        """Ambiguity belongs to the subject, not to one system: if any system finds different
        people behind the identifiers, nothing is exported, erased or changed anywhere (a
        system holding one record for a shared address cannot tell) until a DPO decides."""
        ambiguous = sorted(name for name, result in located.items() if result.ambiguous)
        if not ambiguous:
            return
        for name, result in located.items():
            if self._system(name).outcome is SystemOutcome.PENDING:
                self._update(
                    name,
                    outcome=SystemOutcome.MANUAL,
                    counts=result.counts,
                    reason=(
                        f"held: the identifiers match different people in "
                        f"{', '.join(ambiguous)}; a DPO must establish who the subject is"
                    ),
                )

    async def _execute(
        self,
        params: DsrWorkflowInput,
        subject: SubjectRef,
        connectors: list[ConnectorInfo],
        located: dict[str, LocateResult],
    ) -> None:
        operation = _OPERATION_FOR_KIND[params.request.kind]
        self._plan_step(params, connectors, located)
        await asyncio.gather(
            *(self._execute_one(params, subject, c, operation) for c in connectors)
        )

    def _plan_step(
        self,
        params: DsrWorkflowInput,
        connectors: list[ConnectorInfo],
        located: dict[str, LocateResult],
    ) -> None:
        """discover → PLAN → execute: the policy decides, from the facts the connectors
        reported, what each system does with each group of records. Pure (policy.planner); a
        retry replans only the retried systems and keeps the others' slices."""
        names = {c.name for c in connectors}
        fresh = plan_request(
            self._require_policy(),
            params.request.kind,
            {name: result for name, result in located.items() if name in names},
            self._today(),
            {c.name: c.operations for c in connectors},
            self._rights,
        )
        if self._plan is None:
            self._plan = fresh
            return
        kept = tuple(s for s in self._plan.systems if s.system not in names)
        systems = tuple(sorted((*kept, *fresh.systems), key=lambda s: s.system))
        self._plan = self._plan.model_copy(update={"systems": systems})

    def _today(self) -> date:
        """The company's calendar day now (LOCAL_CALENDAR_PATCH; UTC's date before it)."""
        if workflow.patched(LOCAL_CALENDAR_PATCH):
            return local_date(workflow.now(), self._calendar)
        return workflow.now().date()

    def _slice(self, system: str) -> SystemPlan:
        assert self._plan is not None
        return self._plan.for_system(system)

    async def _execute_one(
        self,
        params: DsrWorkflowInput,
        subject: SubjectRef,
        info: ConnectorInfo,
        operation: Operation,
    ) -> None:
        plan = self._slice(info.name)
        if not plan.concerned:  # the policy says none of the system's data is concerned
            notes = sorted({a.note for a in plan.actions if a.note})
            self._update(
                info.name,
                outcome=SystemOutcome.SKIPPED,
                reason="not concerned (policy): " + ("; ".join(notes) or "no category applies"),
            )
            return
        manual = plan.manual
        if operation not in info.operations or len(manual) == len(plan.actions):
            # The system holds the subject's data but cannot do this: a person must.
            self._update(
                info.name,
                outcome=SystemOutcome.MANUAL,
                reason="manual: " + "; ".join(a.note for a in manual)
                if manual
                else f"manual: {info.name} has no {operation.value} operation",
            )
            return
        self._update(info.name, outcome=SystemOutcome.RUNNING)
        try:
            if operation is Operation.EXPORT:
                exported = await self._call(params, info, operation, subject, ExportResult, plan)
                self._update(
                    info.name,
                    outcome=SystemOutcome.DONE,
                    counts=exported.counts,
                    export=exported.artifact,
                )
            elif operation is Operation.ERASE:
                erased = await self._call(params, info, operation, subject, EraseResult, plan)
                await self._verify_erasure(params, subject, info, erased, plan)
            elif operation is Operation.RECTIFY:
                rectified = await self._call(params, info, operation, subject, RectifyResult, plan)
                if rectified.needs_a_person and workflow.patched(RECTIFY_REFUSALS_PATCH):
                    self._update(
                        info.name,
                        outcome=SystemOutcome.MANUAL,
                        counts=rectified.changed,
                        notified=_recipients(rectified.notified),
                        reason="manual: " + _rectify_reason(rectified),
                    )
                    return
                self._update(
                    info.name,
                    outcome=SystemOutcome.DONE,
                    counts=rectified.changed,
                    notified=_recipients(rectified.notified),
                    reason=(
                        f"fields not held here: {', '.join(rectified.rejected_fields)}"
                        if rectified.rejected_fields
                        else None
                    ),
                )
            elif operation is Operation.UNSUBSCRIBE:
                stopped = await self._call(
                    params, info, operation, subject, UnsubscribeResult, plan
                )
                self._update(info.name, outcome=SystemOutcome.DONE, counts=stopped.unsubscribed)
            else:
                restricted = await self._call(
                    params, info, operation, subject, RestrictResult, plan
                )
                self._update(
                    info.name,
                    outcome=SystemOutcome.DONE,
                    counts=restricted.restricted,
                    notified=_recipients(restricted.notified),
                )
        except (ActivityError, ApplicationError) as error:
            self._fail(info.name, error)
            return
        self._after_plan(info.name, plan)

    def _after_plan(self, name: str, plan: SystemPlan) -> None:
        """What the connector could not do is a person's task (`manual`, with what to do), and
        Art. 19 recipients no connector tells are named for the DPO to tell."""
        status = self._system(name)
        if status.outcome not in (SystemOutcome.DONE, SystemOutcome.RETAINED):
            return
        notes = [a.note for a in plan.manual]
        untold = sorted(
            set(plan.recipients) - set(plan.recipients_notified_by_connector) - set(status.notified)
        )
        if untold:
            notes.append(f"Art. 19: tell {', '.join(untold)} of the change")
        if plan.manual:
            self._update(
                name,
                outcome=SystemOutcome.MANUAL,
                reason="; ".join(filter(None, ["manual: " + "; ".join(notes), status.reason])),
            )
        elif untold:
            self._update(name, reason="; ".join(filter(None, [status.reason, notes[-1]])))

    async def _verify_erasure(
        self,
        params: DsrWorkflowInput,
        subject: SubjectRef,
        info: ConnectorInfo,
        erased: EraseResult,
        plan: SystemPlan,
    ) -> None:
        """After erasure, locate again and compare what remains against the PLAN (not against
        the connector's own report): only what the plan retains (with reason, legal basis and
        until-date) may remain; anything else is a leftover and needs attention."""
        after = await self._call(params, info, Operation.LOCATE, subject, LocateResult)
        problems = leftovers(self._require_policy(), plan, after)
        counts = {f"deleted.{k}": v for k, v in erased.deleted.items() if v}
        counts |= {f"anonymised.{k}": v for k, v in erased.anonymised.items() if v}
        if not problems:
            counts = _verified_counts(counts, plan)
        planned = {a.category for a in plan.actions}
        # The plan's retained items, plus what the erasure itself keeps by the policy's design
        # (a suppression hash it creates, which was not there to be planned).
        retained = plan.retained_items() + [
            item for item in erased.retained if item.category not in planned
        ]
        if problems:
            self._update(
                info.name,
                outcome=SystemOutcome.FAILED,
                counts=counts,
                retained=retained,
                notified=_recipients(erased.notified),
                reason=f"verification against the plan failed: {'; '.join(problems)}",
            )
            return
        self._update(
            info.name,
            outcome=SystemOutcome.RETAINED if retained else SystemOutcome.DONE,
            counts=counts,
            retained=retained,
            notified=_recipients(erased.notified),
            reason="; ".join(item.describe() for item in retained) or None,
        )

    async def _call(
        self,
        params: DsrWorkflowInput,
        info: ConnectorInfo,
        operation: Operation,
        subject: SubjectRef,
        result_type: type[R],
        plan: SystemPlan | None = None,
    ) -> R:
        tuning = params.tuning
        call = ConnectorCall(
            request_id=params.request.request_id,
            subject=subject,
            today=self._today(),
            changes=params.request.rectification.changes if params.request.rectification else [],
            plan=plan,
        )
        result = await workflow.execute_activity_method(
            _CONNECTOR_OPS[operation],
            call,
            task_queue=info.task_queue,
            start_to_close_timeout=tuning.activity_start_to_close,
            schedule_to_close_timeout=tuning.activity_schedule_to_close,
            heartbeat_timeout=tuning.activity_heartbeat,
            retry_policy=RetryPolicy(
                initial_interval=tuning.retry_initial_interval,
                maximum_interval=tuning.retry_maximum_interval,
                non_retryable_error_types=PERMANENT_ERROR_TYPES,
            ),
        )
        if not isinstance(result, result_type):  # the operation's contract says otherwise
            raise ApplicationError(
                f"connector.{operation.value} returned {type(result).__name__}",
                non_retryable=True,
            )
        return result

    # ── the orchestrator's own bookkeeping (store, status topic, policy) ─────────────────────
    async def _bookkeeping(self, operation: Callable[..., Awaitable[T]], *args: Any) -> T:
        """One orchestrator activity: local from LOCAL_BOOKKEEPING_PATCH on, else regular."""
        if workflow.patched(LOCAL_BOOKKEEPING_PATCH):
            return await workflow.execute_local_activity_method(
                operation,
                *args,
                start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
                retry_policy=_ORCHESTRATOR_RETRY,
            )
        return await workflow.execute_activity_method(
            operation,
            *args,
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )

    # ── bookkeeping of per-system outcomes ─────────────────────────────────────────────────
    def _require_summary(self) -> RequestSummary:
        assert self._summary is not None
        return self._summary

    def _require_policy(self) -> Policy:
        assert self._policy is not None
        return self._policy

    def _set_systems(self, systems: list[SystemStatus]) -> None:
        self._summary = self._require_summary().model_copy(update={"systems": systems})

    def _system(self, name: str) -> SystemStatus:
        return next(s for s in self._require_summary().systems if s.system == name)

    def _update(self, name: str, **changes: Any) -> None:
        systems = [
            s.model_copy(update=changes) if s.system == name else s
            for s in self._require_summary().systems
        ]
        self._set_systems(systems)

    def _fail(self, name: str, error: BaseException) -> None:
        cause: BaseException | None = error
        while isinstance(cause, ActivityError) and cause.cause is not None:
            cause = cause.cause
        kind = (
            cause.type
            if isinstance(cause, ApplicationError) and cause.type
            else type(cause).__name__
        )
        outcome = SystemOutcome.MANUAL if kind == "AmbiguousSubject" else SystemOutcome.FAILED
        self._update(name, outcome=outcome, reason=f"{kind}: {cause}")

    def _overall_status(self) -> RequestStatus:
        stuck = {SystemOutcome.FAILED, SystemOutcome.MANUAL}
        if any(s.outcome in stuck for s in self._require_summary().systems):
            return RequestStatus.NEEDS_ATTENTION
        return RequestStatus.COMPLETED

    async def _publish(
        self,
        status: RequestStatus | None,
        *,
        action: AuditAction = AuditAction.STATUS_CHANGED,
        actor: str = "workflow",
        details: dict[str, object] | None = None,
    ) -> None:
        """Store the state with its audit entry and tell the portal. `status=None`: the status
        stays (a decision, a reminder). One at a time, so they are stored in the order made."""
        async with self._publish_lock:
            await self._publish_locked(status, action=action, actor=actor, details=details)

    async def _publish_locked(
        self,
        status: RequestStatus | None,
        *,
        action: AuditAction,
        actor: str,
        details: dict[str, object] | None,
    ) -> None:
        now = workflow.now()
        current = self._require_summary()
        status = status or current.status
        summary = current.model_copy(
            update={
                "status": status,
                "updated_at": now,
                "completed_at": now if status is RequestStatus.COMPLETED else None,
            }
        )
        self._summary = summary
        self._transitions += 1
        info = workflow.info()
        await self._bookkeeping(
            OrchestratorOps.publish_status,
            StatusUpdate(
                summary=summary,
                action=action,
                actor=actor,
                details={"status": status.value, **(details or {})},
                dedupe_key=f"{info.workflow_id}/{info.run_id}/{self._transitions}",
            ),
        )

    async def _finish(
        self, params: DsrWorkflowInput, status: RequestStatus, **publish: Any
    ) -> CompletionRecord:
        """Store the completion record first, then tell the portal: 'completed' is never early.
        Decisions still being recorded finish first, so the record holds every one of them."""
        self._finishing = True  # validators refuse new decisions from here on
        await workflow.wait_condition(lambda: self._recording == 0)
        summary = self._require_summary()
        info = workflow.info()
        record = CompletionRecord(
            request_id=summary.request_id,
            kind=summary.kind,
            channel=summary.channel,
            status=status,
            event_id=params.event_id,
            verification_method=params.request.verification.method,
            received_at=summary.received_at,
            due_at=summary.due_at,
            completed_at=workflow.now(),
            workflow_id=info.workflow_id,
            workflow_run_id=info.run_id,
            systems=summary.systems,
            reason=summary.reason,
            due_date=summary.due_date,
            extension=summary.extension,
            decisions=summary.decisions,
            package=summary.package,
            plan=self._plan,
        )
        await self._bookkeeping(OrchestratorOps.record_completion, record)
        if self._plan is not None and (
            status is RequestStatus.COMPLETED or workflow.patched(DEFERRED_ON_CLOSE_PATCH)
        ):
            # Retained items with an until-date of the systems whose erasure was verified: a
            # durable timer each, erasing on the day after (workflows/follow_up.py); they
            # outlive this workflow, also when the DPO closed the request before it completed.
            await start_deferred_erasures(self._plan, summary, self._require_policy())
        if summary.status is not status:
            await self._publish(status, **publish)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return record
