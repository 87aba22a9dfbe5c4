"""Activities: the only place where the workflow's decisions meet I/O.

`ConnectorActivities` wraps one connector and runs on that connector's task queue, so each
system scales and fails on its own; its exports stream into an encrypting sink (`ExportSinks`).
`OrchestratorActivities` owns the store and the status topic; `PackagingActivities` the access
packages (`Packager`). All hold injected clients (samples-python style); connector errors
become Temporal failures: permanent errors are non-retryable, rate limits honour Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from connectors.base import (
    Connector,
    ConnectorError,
    ConnectorInfo,
    RetryableError,
    operation_first_asked,
)
from connectors.base.recipients import tell_recipients
from policy.fingerprints import identity_fingerprints, subject_fingerprints
from policy.loader import load_policy
from policy.model import Policy
from policy.recipients import recipient_duties
from schemas.events import RequestKind
from schemas.package import ExpiryCall, ExpiryOutcome, PackageBuild, PackageRef
from schemas.plan import SystemPlan
from schemas.records import (
    AuditAction,
    AuditEvent,
    CompletionRecord,
    FollowUpEntry,
    RequestSummary,
)
from schemas.results import (
    EraseResult,
    ExportResult,
    LocateResult,
    RectifyResult,
    RestrictResult,
    UnsubscribeResult,
)
from schemas.status import ExportArtifact, RequestStatus
from schemas.workflow import (
    ConnectorCall,
    FollowUpAppend,
    FollowUpDecision,
    RepeatCheck,
    RepeatCheckResult,
    StatusUpdate,
)
from workflows.contracts import ConnectorOps, OrchestratorOps
from workflows.packaging import PackageExpiryWorkflow, PackagingOps, expiry_workflow_id

__all__ = [
    "ConnectorActivities",
    "EncryptingExportSink",
    "ExportSinks",
    "OrchestratorActivities",
    "Packager",
    "PackagingActivities",
    "RecordStore",
    "StatusPublisher",
]

T = TypeVar("T")
R = TypeVar("R", EraseResult, RectifyResult, RestrictResult)
HEARTBEAT_EVERY = timedelta(seconds=2)


class RecordStore(Protocol):
    async def record_status(self, summary: RequestSummary, event: AuditEvent) -> AuditEvent: ...
    async def append_audit(self, event: AuditEvent) -> AuditEvent: ...
    async def save_completion_record(self, record: CompletionRecord) -> CompletionRecord: ...
    async def get_completion_record(self, request_id: str) -> CompletionRecord | None: ...
    async def append_follow_up(
        self, request_id: str, entry: FollowUpEntry
    ) -> CompletionRecord | None: ...
    async def remember_subject(
        self,
        request_id: str,
        kind: RequestKind,
        received_at: datetime,
        fingerprints: list[str],
        identity: Collection[str] = (),
    ) -> None: ...
    async def earlier_requests_of_subject(
        self,
        fingerprints: list[str],
        *,
        kinds: list[RequestKind],
        since: datetime,
        before: datetime,
        exclude_request_id: str,
        identity: Collection[str] = (),
    ) -> list[str]: ...


class StatusPublisher(Protocol):
    async def publish(self, summary: RequestSummary) -> None: ...


class EncryptingExportSink(Protocol):
    """A connector's export sink that encrypts where it writes (orchestrator.package)."""

    async def write(self, category: str, record: dict[str, object]) -> None: ...
    async def finish(self) -> ExportArtifact: ...
    async def abort(self) -> None: ...


class ExportSinks(Protocol):
    """Opens the encrypting sink of one system for one request (injected by the worker)."""

    async def open(self, request_id: str, system: str) -> EncryptingExportSink: ...


class Packager(Protocol):
    """Builds, expires and shreds access packages (implemented in orchestrator.package)."""

    async def build(self, call: PackageBuild) -> PackageRef: ...
    async def expire(self, call: ExpiryCall, now: datetime) -> ExpiryOutcome: ...


@contextlib.contextmanager
def _first_asked() -> Iterator[None]:
    """Inside an activity, when its operation was first scheduled (shared by every retry);
    called directly (a script, a test), nothing: connectors then cite nothing recorded earlier."""
    if not activity.in_activity():
        yield
        return
    with operation_first_asked(activity.info().scheduled_time):
        yield


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat while the connector works, so a dead worker is noticed within the timeout."""

    async def beat() -> None:
        # First beat after one interval: most operations finish sooner and need no heartbeat
        # RPC at all; long ones beat every interval, well inside the heartbeat timeout.
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY.total_seconds())
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _as_temporal_failure(error: ConnectorError) -> ApplicationError:
    """Typed connector error → Temporal failure whose `type` the retry policy understands."""
    delay = None
    if isinstance(error, RetryableError) and error.retry_after is not None:
        # The system's own Retry-After (429, 503): Temporal waits exactly that long, durably.
        delay = timedelta(seconds=error.retry_after)
    return ApplicationError(
        str(error),
        type=type(error).__name__,
        non_retryable=not error.retryable,
        next_retry_delay=delay,
    )


class _PlannedExport:
    """Drops the categories the plan skips: portability (Art. 20) covers only the data the
    subject provided or generated by their use, per the policy; access skips nothing. Their
    counts are dropped too (nothing of them was exported); the workflow names them in the
    package build from the same plan (`SystemPlan.skipped`), for the manifest's `excluded`."""

    def __init__(self, sink: EncryptingExportSink, plan: SystemPlan | None) -> None:
        self._sink = sink
        self._skipped = set() if plan is None else set(plan.skipped)

    def exports(self, category: str) -> bool:
        return category not in self._skipped

    async def write(self, category: str, record: dict[str, object]) -> None:
        if self.exports(category):
            await self._sink.write(category, record)


class ConnectorActivities(ConnectorOps):
    """The five connector operations for one connector, registered on its task queue."""

    def __init__(self, connector: Connector, exports: ExportSinks) -> None:
        self._connector = connector
        self._exports = exports

    async def _run(self, operation: Callable[[], Awaitable[T]]) -> T:
        """The connector call, its errors as Temporal failures, heartbeating while it runs."""
        try:
            # Every attempt of one activity shares its first scheduling time: a retried call
            # cites only what the system recorded since (connectors.base.first_asked).
            with _first_asked():
                async with _heartbeating():
                    return await operation()
        except ConnectorError as error:
            raise _as_temporal_failure(error) from None

    @activity.defn(name="connector.locate")
    async def locate(self, call: ConnectorCall) -> LocateResult:
        return await self._run(lambda: self._connector.locate(call.subject))

    @activity.defn(name="connector.export")
    async def export(self, call: ConnectorCall) -> ExportResult:
        # Records are encrypted as they are written, here, on the connector's own worker.
        sink = await self._exports.open(call.request_id, self._connector.name)
        planned = _PlannedExport(sink, call.plan)
        try:
            result = await self._run(lambda: self._connector.export(call.subject, planned))
        except BaseException:
            await sink.abort()
            raise
        counts = {k: v for k, v in result.counts.items() if planned.exports(k)}
        return result.model_copy(update={"artifact": await sink.finish(), "counts": counts})

    async def _told(self, call: ConnectorCall, action: str, result: R) -> R:
        """Art. 19: the plan's recipients the operation did not report are offered to the
        connector's `notify_recipient` (connectors.base.recipients); those it cannot reach
        become a person's task when the completion is recorded (policy.recipients)."""
        notified = await self._run(
            lambda: tell_recipients(
                self._connector, call.subject, call.plan, action, result.notified
            )
        )
        return result.model_copy(update={"notified": notified})

    @activity.defn(name="connector.erase")
    async def erase(self, call: ConnectorCall) -> EraseResult:
        plan = call.plan or SystemPlan(system=self._connector.name, created_on=call.today)
        erased = await self._run(lambda: self._connector.erase(call.subject, plan))
        return await self._told(call, "erase", erased)

    @activity.defn(name="connector.rectify")
    async def rectify(self, call: ConnectorCall) -> RectifyResult:
        rectified = await self._run(lambda: self._connector.rectify(call.subject, call.changes))
        return await self._told(call, "rectify", rectified)

    @activity.defn(name="connector.restrict")
    async def restrict(self, call: ConnectorCall) -> RestrictResult:
        restricted = await self._run(lambda: self._connector.restrict(call.subject))
        return await self._told(call, "restrict", restricted)

    @activity.defn(name="connector.lift_restriction")
    async def lift_restriction(self, call: ConnectorCall) -> RestrictResult:
        return await self._run(lambda: self._connector.lift_restriction(call.subject))

    @activity.defn(name="connector.unsubscribe")
    async def unsubscribe(self, call: ConnectorCall) -> UnsubscribeResult:
        return await self._run(lambda: self._connector.unsubscribe(call.subject))

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        """Every operation, for registering on the connector's task queue."""
        return [
            self.locate,
            self.export,
            self.erase,
            self.rectify,
            self.restrict,
            self.lift_restriction,
            self.unsubscribe,
        ]


class OrchestratorActivities(OrchestratorOps):
    """Store, audit trail and status topic: everything the workflow records about itself."""

    def __init__(
        self,
        store: RecordStore,
        publisher: StatusPublisher,
        connectors: list[ConnectorInfo],
        policy: Policy | None = None,
        subject_hash_key: bytes = b"",
    ) -> None:
        self._subject_hash_key = subject_hash_key
        self._store = store
        self._publisher = publisher
        self._connectors = connectors
        # Loaded once by the worker (DSR_POLICY_FILE); the shipped policy when none is given.
        self._policy = policy if policy is not None else load_policy(None)

    @activity.defn(name="orchestrator.load_policy")
    async def load_policy(self) -> Policy:
        """The effective policy, handed to the workflow (which never reads files itself)."""
        return self._policy

    @activity.defn(name="orchestrator.list_connectors")
    async def list_connectors(self, only: list[str]) -> list[ConnectorInfo]:
        if not only:
            return self._connectors
        return [c for c in self._connectors if c.name in only]

    @activity.defn(name="orchestrator.publish_status")
    async def publish_status(self, update: StatusUpdate) -> None:
        summary = update.summary
        await self._store.record_status(
            summary,
            AuditEvent(
                request_id=summary.request_id,
                action=update.action,
                actor=update.actor,
                at=summary.updated_at,
                details=update.details,
                dedupe_key=update.dedupe_key,
            ),
        )
        await self._publisher.publish(summary)

    @activity.defn(name="orchestrator.check_repeat")
    async def check_repeat(self, check: RepeatCheck) -> RepeatCheckResult:
        """Fingerprint the subject (keyed hashes only reach the store), remember them for this
        request, and name earlier requests of the same kind by the same subject in the window.

        Only the same kind repeats: the once-a-year copy is a rule of each right ("Rätt till
        tillgång ... en gång per år" is about access copies), and an access request does not
        make a first portability request (Art. 20, another right) a repeat, nor the reverse."""
        fingerprints = subject_fingerprints(check.subject, self._subject_hash_key)
        # A household sharing an e-mail address is two subjects when each names a personnummer.
        identity = identity_fingerprints(check.subject, self._subject_hash_key)
        kind = RequestKind(check.kind)
        await self._store.remember_subject(
            check.request_id, kind, check.received_at, fingerprints, identity
        )
        earlier = await self._store.earlier_requests_of_subject(
            fingerprints,
            kinds=[kind],
            since=check.since,
            before=check.received_at,
            exclude_request_id=check.request_id,
            identity=identity,
        )
        return RepeatCheckResult(earlier_request_ids=earlier)

    @activity.defn(name="orchestrator.record_completion")
    async def record_completion(self, record: CompletionRecord) -> None:
        if record.package is not None:
            # The package's timer, again (a no-op when it runs): during a rolling deploy the
            # package may have been built by a worker older than EXPIRY_BY_PACKAGE_PATCH, which
            # left the timer to this request; this local activity runs with the workflow's code.
            await start_expiry_timer(activity.client(), record.package, activity.info().task_queue)
        stored = await self._store.save_completion_record(record)
        await self._store.append_audit(
            AuditEvent(
                request_id=stored.request_id,
                action=AuditAction.COMPLETION_RECORDED,
                actor="workflow",
                at=stored.completed_at,
                details={"status": stored.status.value, "systems": len(stored.systems)},
                dedupe_key=f"{stored.workflow_id}/{stored.workflow_run_id}/completion",
            )
        )
        await self._record_recipients(stored)

    async def _record_recipients(self, record: CompletionRecord) -> None:
        """Art. 19: each recipient of the plan, recorded as notified (by its connector) or as a
        person's task with what must be done (policy.recipients)."""
        for duty in recipient_duties(self._policy, record.kind, record.plan, record.systems):
            await self._store.append_audit(
                AuditEvent(
                    request_id=record.request_id,
                    action=(
                        AuditAction.RECIPIENT_NOTIFIED
                        if duty.notified
                        else AuditAction.RECIPIENT_TASK
                    ),
                    actor=f"connector:{duty.system}" if duty.notified else "workflow",
                    at=record.completed_at,
                    details=duty.details(),
                    dedupe_key=(
                        f"{record.workflow_id}/{record.workflow_run_id}/art19/"
                        f"{duty.system}/{duty.recipient}"
                    ),
                )
            )

    @activity.defn(name="orchestrator.record_follow_up_decision")
    async def record_follow_up_decision(self, decision: FollowUpDecision) -> RequestStatus:
        """The decision as the request's other decisions are kept: a `decision` entry with who,
        when and why (the desk's timeline and decisions list read it from the trail)."""
        # A chain is started as its request's completion record is written: it has one.
        record = await self._store.get_completion_record(decision.request_id)
        if record is None:
            raise ApplicationError(
                f"the store holds no completion record of request {decision.request_id}",
                type="RequestNotStored",
                non_retryable=True,
            )
        await self._store.append_audit(
            AuditEvent(
                request_id=decision.request_id,
                action=AuditAction.DECISION,
                actor=decision.actor,
                at=decision.at,
                details={
                    "decision": decision.decision.value,
                    **({"reason": decision.note} if decision.note else {}),
                },
                dedupe_key=decision.dedupe_key,
            )
        )
        return record.status

    @activity.defn(name="orchestrator.append_follow_up")
    async def append_follow_up(self, append: FollowUpAppend) -> None:
        """The date's entry in the completion record (a later attempt replaces it) and one
        audit entry per attempt: the trail keeps every failure the record no longer shows."""
        entry = append.entry
        await self._store.append_follow_up(append.request_id, entry)
        details: dict[str, object] = {
            "due_on": entry.due_on.isoformat(),
            "outcome": entry.outcome,
            "erased": entry.erased,
        }
        dedupe_key = f"{append.request_id}/deferred-erasure/{entry.due_on.isoformat()}"
        if entry.attempt > 1 or entry.retry_at is not None:  # follow-up-retry-v1's attempts
            details |= {"attempt": entry.attempt, "note": entry.note}
            if entry.retry_at is not None:
                details["retry_at"] = entry.retry_at.isoformat()
            if entry.attempt > 1:  # the first attempt keeps the key it always had
                dedupe_key += f"/attempt-{entry.attempt}"
        await self._store.append_audit(
            AuditEvent(
                request_id=append.request_id,
                action=AuditAction.DEFERRED_ERASURE,
                actor="workflow",
                at=entry.ran_at,
                details=details,
                dedupe_key=dedupe_key,
            )
        )


async def start_expiry_timer(client: Client, package: PackageRef, task_queue: str) -> None:
    """Start the package's expiry timer unless one already runs for the request (a retried
    build, or a package built again for the same request): its id is the request's, and an
    existing run is kept, as the child start it replaces kept it."""
    await client.start_workflow(
        PackageExpiryWorkflow.run,
        ExpiryCall(request_id=package.request_id, expires_at=package.expires_at),
        id=expiry_workflow_id(package.request_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


class PackagingActivities(PackagingOps):
    """Access packages on the orchestrator's queue: build one from the systems' encrypted parts,
    and at its expiry delete it and, once the request's retention has ended, destroy the
    request's data key — each audited."""

    def __init__(self, packager: Packager, store: RecordStore) -> None:
        self._packager = packager
        self._store = store

    @activity.defn(name="orchestrator.build_package")
    async def build_package(self, call: PackageBuild) -> PackageRef:
        """Build the package, then make sure its expiry timer runs — before the reference is
        returned, so no package exists without one (a retried build finds the timer there)."""
        ref = await self._packager.build(call)
        await start_expiry_timer(activity.client(), ref, activity.info().task_queue)
        await self._store.append_audit(
            AuditEvent(
                request_id=call.request_id,
                action=AuditAction.PACKAGE_CREATED,
                actor="workflow",
                at=call.created_at,
                details={
                    "reference": ref.reference,
                    "files": ref.files,
                    "size_bytes": ref.size_bytes,
                    "expires_at": ref.expires_at.isoformat(),
                },
                dedupe_key=f"package/{call.request_id}/{call.created_at.isoformat()}/created",
            )
        )
        return ref

    @activity.defn(name="orchestrator.expire_package")
    async def expire_package(self, call: ExpiryCall) -> ExpiryOutcome:
        now = call.now or datetime.now(UTC)
        outcome = await self._packager.expire(call, now)
        if outcome.package_deleted:
            await self._store.append_audit(
                AuditEvent(
                    request_id=call.request_id,
                    action=AuditAction.PACKAGE_DELETED,
                    actor="package-expiry",
                    at=now,
                    details={"expires_at": call.expires_at.isoformat()},
                    dedupe_key=f"package/{call.request_id}/{call.expires_at.isoformat()}/deleted",
                )
            )
        if outcome.key_destroyed:
            await self._store.append_audit(
                AuditEvent(
                    request_id=call.request_id,
                    action=AuditAction.DATA_KEY_DESTROYED,
                    actor="package-expiry",
                    at=now,
                    details={"history": "unreadable", "package": "unreadable"},
                    dedupe_key=f"data-key/{call.request_id}/destroyed",
                )
            )
        return outcome
