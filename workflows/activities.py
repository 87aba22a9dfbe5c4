"""Activities: the only place where the workflow's decisions meet I/O.

`ConnectorActivities` wraps one connector and runs on that connector's task queue, so each
system scales and fails on its own. `OrchestratorActivities` owns the store and the status
topic. Both hold injected clients (samples-python style) and translate typed connector errors
into Temporal failures: permanent errors are non-retryable, rate limits honour Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors.base import Connector, ConnectorError, ConnectorInfo, RateLimited
from policy.loader import load_policy
from policy.model import Policy
from schemas.plan import SystemPlan
from schemas.records import AuditAction, AuditEvent, CompletionRecord, RequestSummary
from schemas.results import (
    EraseResult,
    ExportResult,
    LocateResult,
    RectifyResult,
    RestrictResult,
    UnsubscribeResult,
)
from schemas.status import ExportArtifact
from schemas.workflow import ConnectorCall, StatusUpdate

__all__ = [
    "ConnectorActivities",
    "JsonLinesExport",
    "OrchestratorActivities",
    "RecordStore",
    "StatusPublisher",
]

T = TypeVar("T")
HEARTBEAT_EVERY = timedelta(seconds=2)


class RecordStore(Protocol):
    async def record_status(self, summary: RequestSummary, event: AuditEvent) -> AuditEvent: ...
    async def append_audit(self, event: AuditEvent) -> AuditEvent: ...
    async def save_completion_record(self, record: CompletionRecord) -> CompletionRecord: ...


class StatusPublisher(Protocol):
    async def publish(self, summary: RequestSummary) -> None: ...


class JsonLinesExport:
    """Streams exported records to `<dir>/<system>.jsonl` (mode 0600), hashing as it writes.

    Written to a temporary file and renamed at the end, so a retried activity never leaves a
    half export behind, and a completed one is simply rewritten (idempotent).
    """

    def __init__(self, directory: Path, system: str) -> None:
        self.path = directory / f"{system}.jsonl"
        self._tmp = directory / f".{system}.jsonl.partial"
        self._digest = hashlib.sha256()
        self._size = 0
        self.records = 0
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "wb")

    async def write(self, category: str, record: dict[str, object]) -> None:
        line = (
            json.dumps(
                {"category": category, "record": record}, ensure_ascii=False, default=str
            ).encode()
            + b"\n"
        )
        self._file.write(line)
        self._digest.update(line)
        self._size += len(line)
        self.records += 1

    def finish(self) -> ExportArtifact:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._tmp.replace(self.path)
        return ExportArtifact(
            uri=self.path.resolve().as_uri(),
            sha256=self._digest.hexdigest(),
            size_bytes=self._size,
            records=self.records,
        )

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


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
    if isinstance(error, RateLimited) and error.retry_after is not None:
        delay = timedelta(seconds=error.retry_after)
    return ApplicationError(
        str(error),
        type=type(error).__name__,
        non_retryable=not error.retryable,
        next_retry_delay=delay,
    )


class ConnectorActivities:
    """The five connector operations for one connector, registered on its task queue."""

    def __init__(self, connector: Connector, export_dir: Path) -> None:
        self._connector = connector
        self._export_dir = export_dir

    async def _run(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            async with _heartbeating():
                return await operation()
        except ConnectorError as error:
            raise _as_temporal_failure(error) from None

    @activity.defn(name="connector.locate")
    async def locate(self, call: ConnectorCall) -> LocateResult:
        return await self._run(lambda: self._connector.locate(call.subject))

    @activity.defn(name="connector.export")
    async def export(self, call: ConnectorCall) -> ExportResult:
        sink = JsonLinesExport(self._export_dir / call.request_id, self._connector.name)
        try:
            result = await self._run(lambda: self._connector.export(call.subject, sink))
        except BaseException:
            sink.abort()
            raise
        return result.model_copy(update={"artifact": sink.finish()})

    @activity.defn(name="connector.erase")
    async def erase(self, call: ConnectorCall) -> EraseResult:
        plan = call.plan or SystemPlan(system=self._connector.name, created_on=call.today)
        return await self._run(lambda: self._connector.erase(call.subject, plan))

    @activity.defn(name="connector.rectify")
    async def rectify(self, call: ConnectorCall) -> RectifyResult:
        return await self._run(lambda: self._connector.rectify(call.subject, call.changes))

    @activity.defn(name="connector.restrict")
    async def restrict(self, call: ConnectorCall) -> RestrictResult:
        return await self._run(lambda: self._connector.restrict(call.subject))

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


class OrchestratorActivities:
    """Store, audit trail and status topic: everything the workflow records about itself."""

    def __init__(
        self,
        store: RecordStore,
        publisher: StatusPublisher,
        connectors: list[ConnectorInfo],
        policy: Policy | None = None,
    ) -> None:
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

    @activity.defn(name="orchestrator.record_completion")
    async def record_completion(self, record: CompletionRecord) -> None:
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
