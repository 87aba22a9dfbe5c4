"""DsrWorkflow: one durable workflow per data-subject request.

    gate → discover → execute → verify → record → publish status

Deterministic and small: it holds identifiers and references, decides, and delegates every
I/O to activities (connectors on their own task queues; store and Kafka on the orchestrator's).
Status changes are published at each step, so the portal and the DPO always see where it is.
"""

# No `from __future__ import annotations` here, deliberately: the sandbox re-executes this
# module for every workflow run, and Temporal's decorators resolve string annotations with
# eval through the sandbox's import proxies — real annotation objects are far cheaper.
import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # pydantic imports email_validator lazily when it first validates an EmailStr; importing it
    # here keeps that import out of the workflow sandbox.
    import email_validator  # noqa: F401

    from policy.deadlines import legal_due_at
    from schemas.connectors import ConnectorInfo, Operation
    from schemas.events import RequestKind
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
    from schemas.status import RequestStatus, SystemOutcome, SystemStatus
    from schemas.subject import SubjectRef
    from schemas.workflow import (
        ConnectorCall,
        DenyDecision,
        DsrWorkflowInput,
        IdentityConfirmation,
        Resolution,
        ResolutionAction,
        StatusUpdate,
    )

__all__ = ["PERMANENT_ERROR_TYPES", "DsrWorkflow"]

# Connector errors that retrying cannot fix (see connectors.base._errors).
PERMANENT_ERROR_TYPES = [
    "PermanentError",
    "ConfigurationError",
    "AuthenticationError",
    "AmbiguousSubject",
    "UnsupportedOperation",
]
# workflow.patched ids: a rule added after workflows began running (they replay without it).
HOLD_ALL_ON_AMBIGUITY = "hold-all-systems-on-ambiguity"
_ORCHESTRATOR_TIMEOUT = timedelta(seconds=30)
_ORCHESTRATOR_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))

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


def _recipients(notifications: list[RecipientNotification]) -> list[str]:
    return sorted({n.recipient for n in notifications})


# Type "DsrWorkflowV2": workflows begun under the first generation ("DsrWorkflow") replay against
# the frozen copy in workflows/dsr_v1.py; changes to this one are versioned with workflow.patched
# once its histories are committed.
@workflow.defn(name="DsrWorkflowV2")
class DsrWorkflow:
    def __init__(self) -> None:
        self._summary: RequestSummary | None = None
        self._identity: IdentityConfirmation | None = None
        self._denial: DenyDecision | None = None
        self._resolution: Resolution | None = None
        self._transitions = 0

    # ── signals and queries ────────────────────────────────────────────────────────────────
    @workflow.query(name="status")
    def status(self) -> RequestSummary | None:
        return self._summary

    @workflow.signal(name="confirm_identity")
    def confirm_identity(self, confirmation: IdentityConfirmation) -> None:
        self._identity = confirmation

    @workflow.signal(name="deny")
    def deny(self, decision: DenyDecision) -> None:
        self._denial = decision

    @workflow.signal(name="resolve")
    def resolve(self, resolution: Resolution) -> None:
        self._resolution = resolution

    # ── the request ────────────────────────────────────────────────────────────────────────
    @workflow.run
    async def run(self, params: DsrWorkflowInput) -> CompletionRecord:
        request = params.request
        now = workflow.now()
        self._summary = RequestSummary(
            request_id=request.request_id,
            kind=request.kind,
            channel=request.channel,
            status=RequestStatus.RECEIVED,
            received_at=request.received_at,
            due_at=legal_due_at(request.received_at),
            updated_at=now,
        )
        await self._publish(
            RequestStatus.RECEIVED,
            action=AuditAction.REQUEST_ACCEPTED,
            details={"event_id": params.event_id, "channel": request.channel.value},
        )

        if not await self._gate(params):
            return await self._finish(params, RequestStatus.DENIED)

        await self._publish(RequestStatus.IN_PROGRESS)
        connectors = await workflow.execute_activity(
            "orchestrator.list_connectors",
            request.scope.systems if request.scope else [],
            result_type=list[ConnectorInfo],
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )
        self._set_systems([SystemStatus(system=c.name) for c in connectors])

        subject, located = await self._discover(params, connectors)
        self._hold_if_ambiguous(located)
        pending = [c for c in connectors if self._system(c.name).outcome is SystemOutcome.PENDING]
        closing: dict[str, Any] = {}
        while True:
            await self._execute(params, subject, pending, located)
            if self._overall_status() is RequestStatus.COMPLETED:
                break
            # Something failed or needs a human: a DPO retries the failed systems, or closes
            # the request once the manual work is done elsewhere. A stale decision is cleared
            # BEFORE the status is announced: a DPO may answer while it is being published.
            self._resolution = None
            await self._publish(RequestStatus.NEEDS_ATTENTION)
            await workflow.wait_condition(lambda: self._resolution is not None)
            resolution = self._resolution
            assert resolution is not None
            if resolution.action is ResolutionAction.CLOSE:
                self._summary = self._require_summary().model_copy(
                    update={"reason": "closed by DPO"}
                )
                closing = {
                    "action": AuditAction.DECISION,
                    "actor": resolution.actor,
                    "details": {"decision": "close", "note_given": bool(resolution.note)},
                }
                break
            pending = [
                c
                for c in connectors
                if self._system(c.name).outcome in (SystemOutcome.FAILED, SystemOutcome.MANUAL)
            ]
            await self._publish(
                RequestStatus.IN_PROGRESS,
                action=AuditAction.DECISION,
                actor=resolution.actor,
                details={"decision": "retry", "systems": [c.name for c in pending]},
            )
            for info in pending:
                self._update(info.name, outcome=SystemOutcome.PENDING, reason=None)
            subject, located = await self._discover(params, pending, subject)
            self._hold_if_ambiguous(located)
            pending = [c for c in pending if self._system(c.name).outcome is SystemOutcome.PENDING]

        return await self._finish(params, RequestStatus.COMPLETED, **closing)

    async def _gate(self, params: DsrWorkflowInput) -> bool:
        """Identity must be confirmed before anything is touched (policy: 'identitet bekräftas')."""
        if params.request.verification.is_verified:
            return True
        await self._publish(RequestStatus.AWAITING_VERIFICATION)
        await workflow.wait_condition(
            lambda: self._identity is not None or self._denial is not None
        )
        if self._denial is not None:
            self._summary = self._require_summary().model_copy(
                update={"reason": self._denial.reason}
            )
            await self._publish(
                RequestStatus.DENIED,
                action=AuditAction.DECISION,
                actor=self._denial.actor,
                details={"decision": "deny"},
            )
            return False
        assert self._identity is not None
        await self._publish(
            RequestStatus.IN_PROGRESS,
            action=AuditAction.DECISION,
            actor=self._identity.actor,
            details={"decision": "identity_confirmed", "method": self._identity.method},
        )
        return True

    async def _discover(
        self,
        params: DsrWorkflowInput,
        connectors: list[ConnectorInfo],
        subject: SubjectRef | None = None,
    ) -> tuple[SubjectRef, dict[str, LocateResult]]:
        """Locate in every system; identifiers learned in one system are searched in all."""
        subject = subject or SubjectRef.from_subject(params.request.subject)
        located: dict[str, LocateResult] = {}
        for _round in range(params.tuning.discovery_rounds):
            results = await asyncio.gather(
                *(
                    self._call(params, c, Operation.LOCATE, subject, LocateResult)
                    for c in connectors
                ),
                return_exceptions=True,
            )
            learned = []
            for info, result in zip(connectors, results, strict=True):
                if isinstance(result, BaseException):
                    self._fail(info.name, result)
                    continue
                assert isinstance(result, LocateResult)
                located[info.name] = result
                learned.extend(result.learned)
            grown = subject.merged(learned)
            if len(grown.identifiers) == len(subject.identifiers):
                break
            subject = grown
        for info in connectors:
            result = located.get(info.name)
            if result is None:
                continue
            if result.ambiguous:
                self._update(
                    info.name,
                    outcome=SystemOutcome.MANUAL,
                    counts=result.counts,
                    reason=result.ambiguity_reason or "ambiguous identity",
                )
            elif not result.found:
                self._update(info.name, outcome=SystemOutcome.NOT_FOUND, counts={})
            else:
                self._update(info.name, outcome=SystemOutcome.PENDING, counts=result.counts)
        return subject, located

    def _hold_if_ambiguous(self, located: dict[str, LocateResult]) -> None:
        """Ambiguity belongs to the subject, not to one system: if any system finds different
        people behind the identifiers, nothing is exported, erased or changed anywhere (a
        system holding one record for a shared address cannot tell) until a DPO decides."""
        if not workflow.patched(HOLD_ALL_ON_AMBIGUITY):
            return  # workflows started before this rule keep the behaviour they began with
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
        await asyncio.gather(
            *(self._execute_one(params, subject, c, operation) for c in connectors)
        )

    async def _execute_one(
        self,
        params: DsrWorkflowInput,
        subject: SubjectRef,
        info: ConnectorInfo,
        operation: Operation,
    ) -> None:
        if operation not in info.operations:
            self._update(
                info.name,
                outcome=SystemOutcome.SKIPPED,
                reason=f"{info.name} has no {operation.value} operation for this request kind",
            )
            return
        self._update(info.name, outcome=SystemOutcome.RUNNING)
        try:
            if operation is Operation.EXPORT:
                exported = await self._call(params, info, operation, subject, ExportResult)
                self._update(
                    info.name,
                    outcome=SystemOutcome.DONE,
                    counts=exported.counts,
                    export=exported.artifact,
                )
            elif operation is Operation.ERASE:
                erased = await self._call(params, info, operation, subject, EraseResult)
                await self._verify_erasure(params, subject, info, erased)
            elif operation is Operation.RECTIFY:
                rectified = await self._call(params, info, operation, subject, RectifyResult)
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
                stopped = await self._call(params, info, operation, subject, UnsubscribeResult)
                self._update(info.name, outcome=SystemOutcome.DONE, counts=stopped.unsubscribed)
            else:
                restricted = await self._call(params, info, operation, subject, RestrictResult)
                self._update(
                    info.name,
                    outcome=SystemOutcome.DONE,
                    counts=restricted.restricted,
                    notified=_recipients(restricted.notified),
                )
        except (ActivityError, ApplicationError) as error:
            self._fail(info.name, error)

    async def _verify_erasure(
        self,
        params: DsrWorkflowInput,
        subject: SubjectRef,
        info: ConnectorInfo,
        erased: EraseResult,
    ) -> None:
        """After erasure, locate again: only what the erasure retained (with reason) may remain."""
        after = await self._call(params, info, Operation.LOCATE, subject, LocateResult)
        retained_categories = {item.category for item in erased.retained}
        leftover = sorted(c for c, n in after.counts.items() if n and c not in retained_categories)
        counts = {f"deleted.{k}": v for k, v in erased.deleted.items() if v}
        counts |= {f"anonymised.{k}": v for k, v in erased.anonymised.items() if v}
        if leftover:
            self._update(
                info.name,
                outcome=SystemOutcome.FAILED,
                counts=counts,
                retained=erased.retained,
                notified=_recipients(erased.notified),
                reason=f"verification failed: data remains in {', '.join(leftover)}",
            )
            return
        self._update(
            info.name,
            outcome=SystemOutcome.RETAINED if erased.retained else SystemOutcome.DONE,
            counts=counts,
            retained=erased.retained,
            notified=_recipients(erased.notified),
            reason="; ".join(item.describe() for item in erased.retained) or None,
        )

    async def _call(
        self,
        params: DsrWorkflowInput,
        info: ConnectorInfo,
        operation: Operation,
        subject: SubjectRef,
        result_type: type[Any],
    ) -> Any:
        tuning = params.tuning
        call = ConnectorCall(
            request_id=params.request.request_id,
            subject=subject,
            today=workflow.now().date(),
            changes=params.request.rectification.changes if params.request.rectification else [],
        )
        return await workflow.execute_activity(
            f"connector.{operation.value}",
            call,
            task_queue=info.task_queue,
            result_type=result_type,
            start_to_close_timeout=tuning.activity_start_to_close,
            schedule_to_close_timeout=tuning.activity_schedule_to_close,
            heartbeat_timeout=tuning.activity_heartbeat,
            retry_policy=RetryPolicy(
                initial_interval=tuning.retry_initial_interval,
                maximum_interval=tuning.retry_maximum_interval,
                non_retryable_error_types=PERMANENT_ERROR_TYPES,
            ),
        )

    # ── bookkeeping of per-system outcomes ─────────────────────────────────────────────────
    def _require_summary(self) -> RequestSummary:
        assert self._summary is not None
        return self._summary

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
        status: RequestStatus,
        *,
        action: AuditAction = AuditAction.STATUS_CHANGED,
        actor: str = "workflow",
        details: dict[str, object] | None = None,
    ) -> None:
        now = workflow.now()
        summary = self._require_summary().model_copy(
            update={
                "status": status,
                "updated_at": now,
                "completed_at": now if status is RequestStatus.COMPLETED else None,
            }
        )
        self._summary = summary
        self._transitions += 1
        info = workflow.info()
        await workflow.execute_activity(
            "orchestrator.publish_status",
            StatusUpdate(
                summary=summary,
                action=action,
                actor=actor,
                details={"status": status.value, **(details or {})},
                dedupe_key=f"{info.workflow_id}/{info.run_id}/{self._transitions}",
            ),
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )

    async def _finish(
        self, params: DsrWorkflowInput, status: RequestStatus, **publish: Any
    ) -> CompletionRecord:
        """Store the completion record first, then tell the portal: 'completed' is never early."""
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
        )
        await workflow.execute_activity(
            "orchestrator.record_completion",
            record,
            start_to_close_timeout=_ORCHESTRATOR_TIMEOUT,
            retry_policy=_ORCHESTRATOR_RETRY,
        )
        if summary.status is not status:
            await self._publish(status, **publish)
        return record
