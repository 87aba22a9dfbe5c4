"""The crypto-shredding sweep's activities and its schedule (workflows/shredder.py).

A closed request's data key is destroyed once nothing needs it any more:
- the request is closed: completed (the DPO's `resolve close` ends as completed too), denied or
  cancelled (`schemas.status.TERMINAL_STATUSES`);
- the policy's readable-after-close period has passed (`Policy.readable_after_close`, per
  kind) — written to the key's `retain_until` when the completion record is stored
  (`RetainOnClose`, around the worker's record store) and again by the sweep (for requests
  closed before that, or under an older policy), so the package expiry timer, which also
  destroys keys, honours it as well;
- the key's `retain_until` has passed (pushed on by anything else that needs the key);
- its package, if any, has expired;
- no deferred erasure of the request is still running (workflows/follow_up.py: a retained
  record is erased years later; the request stays readable to the DPO until that is done);
- no restriction of the request is held, waiting for the DPO to lift it
  (workflows/lift_restriction.py: its input carries the identifiers each system was restricted
  by, sealed with this key; the restriction is in force until it is lifted, so the
  readable-after-close clock does not run out on it). Once lifted, the usual rules apply, the
  readable-after-close period counted from the lift (`RetainOnClose.record_restriction_lift`).

Destroying the key makes everything sealed with it unreadable everywhere at once: the request's
Temporal history payloads, its package and the DLQ copies of its events (orchestrator.dlq).
Each destruction is audited (`data_key_destroyed`, one entry per request whoever destroyed it)
and followed by a VACUUM of the keys table on PostgreSQL (orchestrator.store._keys).

Orphan keys — made for a dead letter naming a request id that never became a request (no row
in the store, no workflow in Temporal) — are deleted once the DLQ has let go of their copies
(`orphan_after`: the DLQ retention and a day), so forged events cannot pile up keys forever.
Deleted, not destroyed: a real request that later comes with that id gets a key of its own.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.datakeys import DataKeyRing
from orchestrator.logging import get_logger
from orchestrator.schedules import ensure_interval_schedule
from orchestrator.settings import Settings
from orchestrator.store import Store
from orchestrator.store._keys import ClosedRequestKey, KeyStore
from policy.model import Policy
from schemas.events import RequestKind
from schemas.lift import lift_workflow_id
from schemas.records import AuditAction, AuditEvent, CompletionRecord, RestrictionLiftRecord
from schemas.status import TERMINAL_STATUSES
from schemas.workflow import workflow_id_for
from workflows.follow_up import follow_up_workflow_id
from workflows.shredder import (
    SHRED_FIND_ACTIVITY,
    SHRED_REQUEST_ACTIVITY,
    ShredCall,
    ShredCandidates,
    ShredOutcome,
    ShredScan,
    ShredSweepInput,
    ShredSweepWorkflow,
)

__all__ = ["SCHEDULE_ID", "RetainOnClose", "Shredder", "ensure_shred_schedule", "shred_workflow_id"]

log = get_logger(__name__)

SCHEDULE_ID = "dsr-shred-sweep"
_PAGE = 500


def shred_workflow_id(settings: Settings) -> str:
    # Not `dsr-<request id>`: the sweep belongs to no request (master-key payloads).
    return f"shred-sweep/{settings.orchestrator_task_queue}"


async def ensure_shred_schedule(client: Client, settings: Settings) -> bool:
    """Create the sweep's schedule if it does not exist (several workers may race: one wins).
    Returns whether this call created it. `DSR_SHRED_INTERVAL=0` turns it off."""
    return await ensure_interval_schedule(
        client,
        SCHEDULE_ID,
        ShredSweepWorkflow.run,
        ShredSweepInput(),
        workflow_id=shred_workflow_id(settings),
        task_queue=settings.orchestrator_task_queue,
        every_seconds=settings.shred_interval,
    )


class RetainOnClose:
    """The worker's record store, except that storing a completion record also keeps the
    request's data key readable for the policy's period after closing (`retain_until`, pushed
    on, never back). Everything else is the store's own method."""

    def __init__(self, store: Any, key_store: KeyStore, policy: Policy) -> None:
        self._store = store
        self._key_store = key_store
        self._policy = policy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def save_completion_record(self, record: CompletionRecord) -> CompletionRecord:
        stored: CompletionRecord = await self._store.save_completion_record(record)
        if stored.status in TERMINAL_STATUSES:
            until = stored.completed_at + self._policy.readable_after_close(stored.kind)
            await self._key_store.retain_data_key(stored.request_id, until)
        return stored

    async def record_restriction_lift(
        self, request_id: str, lift: RestrictionLiftRecord
    ) -> CompletionRecord | None:
        """A lifted restriction is readable for the period after its lift, as a request is after
        its close: the DPO follows the lift's result (its history is under the same key)."""
        stored: CompletionRecord | None = await self._store.record_restriction_lift(
            request_id, lift
        )
        until = lift.finished_at + self._policy.readable_after_close(RequestKind.RESTRICTION)
        await self._key_store.retain_data_key(request_id, until)
        return stored


async def restriction_in_force(client: Client, request_id: str) -> bool:
    """Whether the request's restriction is still in force: its hold (the lift workflow) runs,
    waiting for the DPO's lift or lifting. Its key must stay: the hold's input, the systems'
    identifiers to lift with, is sealed with it. NOT_FOUND: a request that restricted nothing,
    or closed before holds existed."""
    status = await _workflow_status(client, lift_workflow_id(request_id))
    return status is WorkflowExecutionStatus.RUNNING


async def _workflow_status(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    """The workflow's status; None when Temporal does not know it (never started, or closed
    long enough ago to be gone)."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status


class Shredder:
    """The sweep's activities: the store (keys, packages, requests, audit) and Temporal (is a
    deferred erasure still running?)."""

    def __init__(
        self,
        client: Client,
        store: Store,
        keys: DataKeyRing,
        key_store: KeyStore,
        policy: Policy,
        *,
        orphan_after: timedelta | None = None,
    ) -> None:
        """`orphan_after`: how old an orphan key must be to be deleted (None: never)."""
        self._client = client
        self._store = store
        self._keys = keys
        self._key_store = key_store
        self._policy = policy
        self._orphan_after = orphan_after

    async def _waiting_for(self, row: ClosedRequestKey, now: datetime) -> str | None:
        """What still needs the key (None: nothing). Sets `retain_until` from the policy."""
        readable_until = row.closed_at + self._policy.readable_after_close(row.kind)
        if row.retain_until is None or row.retain_until < readable_until:
            await self._key_store.retain_data_key(row.request_id, readable_until)
        if readable_until > now:
            return "readable_after_close"
        if row.retain_until is not None and row.retain_until > now:
            return "retain_until"
        if row.package_expires_at is not None and row.package_expires_at > now:
            return "package"
        if await self._deferred_erasure_running(row.request_id):
            return "deferred_erasure"
        if row.kind == RequestKind.RESTRICTION and await self._restriction_held(row.request_id):
            return "restriction_hold"
        return None

    async def _deferred_erasure_running(self, request_id: str) -> bool:
        # NOT_FOUND: none was needed, or it finished long enough ago to be gone.
        status = await _workflow_status(self._client, follow_up_workflow_id(request_id))
        return status is WorkflowExecutionStatus.RUNNING

    async def _restriction_held(self, request_id: str) -> bool:
        return await restriction_in_force(self._client, request_id)

    async def _delete_orphans(self, now: datetime) -> int:
        if self._orphan_after is None:
            return 0
        created_before = now - self._orphan_after
        deleted, after = 0, ""
        while page := await self._key_store.orphan_keys(created_before, after=after, limit=_PAGE):
            for request_id in page:
                # A workflow without a stored request yet (its first activity pending) is no
                # orphan: Temporal decides, not the store alone.
                if await _workflow_status(self._client, workflow_id_for(request_id)) is not None:
                    continue
                if await self._key_store.delete_orphan_key(request_id, created_before):
                    deleted += 1
                    await self._store.append_audit(
                        AuditEvent(
                            request_id=request_id,
                            action=AuditAction.DATA_KEY_DESTROYED,
                            actor="shredder",
                            at=datetime.now(UTC),
                            details={"by": "shred_sweep", "orphan": True},
                            dedupe_key=f"data-key/{request_id}/orphan-deleted",
                        )
                    )
            after = page[-1]
            activity.heartbeat(after)
        return deleted

    @activity.defn(name=SHRED_FIND_ACTIVITY)
    async def find_shreddable(self, scan: ShredScan) -> ShredCandidates:
        # Old row versions an open transaction kept alive at an earlier destruction go now.
        await self._key_store.vacuum_data_keys()
        due: list[str] = []
        waiting: Counter[str] = Counter()
        after = ""
        while len(due) < scan.max_requests:
            page = await self._key_store.closed_with_live_keys(after=after, limit=_PAGE)
            if not page:
                break
            for row in page:
                reason = await self._waiting_for(row, scan.now)
                if reason is not None:
                    waiting[reason] += 1
                elif len(due) < scan.max_requests:
                    due.append(row.request_id)
                else:
                    waiting["next_run"] += 1
            after = page[-1].request_id
            activity.heartbeat(after)
        orphans = await self._delete_orphans(scan.now)
        return ShredCandidates(due=due, waiting=dict(waiting), orphans_deleted=orphans)

    @activity.defn(name=SHRED_REQUEST_ACTIVITY)
    async def shred_request(self, call: ShredCall) -> ShredOutcome:
        """Re-check (things may have changed since the scan), destroy, audit. Idempotent: a
        retry after the destruction finds the key gone and still writes its one audit entry."""
        request_id = call.request_id
        rows = await self._key_store.closed_with_live_keys(only=request_id, limit=1)
        if rows:
            reason = await self._waiting_for(rows[0], call.now)
            if reason is not None:
                return ShredOutcome(request_id=request_id, destroyed=False, waiting_for=reason)
            row = rows[0]
            await self._keys.destroy(request_id)
        else:
            stored = await self._key_store.get_data_key(request_id)
            if stored is None or not stored.destroyed:
                return ShredOutcome(request_id=request_id, destroyed=False, waiting_for="open")
            row = None  # destroyed by an earlier attempt of this activity (or by someone else)
        stored = await self._key_store.get_data_key(request_id)
        destroyed_at = (stored.destroyed_at if stored else None) or datetime.now(UTC)
        details: dict[str, object] = {"by": "shred_sweep", "decided_at": call.now.isoformat()}
        if row is not None:
            details |= {
                "status": row.status.value,
                "closed_at": row.closed_at.isoformat(),
                "readable_after_close_days": self._policy.readable_after_close(row.kind).days,
            }
        await self._store.append_audit(
            AuditEvent(
                request_id=request_id,
                action=AuditAction.DATA_KEY_DESTROYED,
                actor="shredder",
                at=destroyed_at,
                details=details,
                dedupe_key=f"data-key/{request_id}/destroyed",
            )
        )
        log.info("data key destroyed", request_id=request_id)
        return ShredOutcome(request_id=request_id, destroyed=True)
