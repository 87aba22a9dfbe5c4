"""The worker's side of the checkpoints: sign and publish at every completion and periodically.

Completion: the store handed to the workflow's `OrchestratorActivities` is wrapped, so that right
after `record_completion` appends its `completion_recorded` entry the head and the request's
trail are signed and published — inside the activity, so it only succeeds (and the workflow
only completes) once the broker holds the checkpoint; a retry appends nothing twice and
publishes an identical-content checkpoint again, which is harmless.

Periodic: an in-worker task rather than a Temporal Schedule. The signing key must stay in the
worker's environment either way, a Schedule would add a workflow type and an activity on the
orchestrator queue for what is one signature an hour, and "at least hourly" holds whenever an
orchestrator worker runs — while none runs, the chain does not grow either. Several replicas
publish several heads an hour, which only adds witnesses.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from orchestrator.audit._kafka import KafkaCheckpointPublisher, run_periodic_checkpoints
from orchestrator.audit._keys import signing_key_from_settings
from orchestrator.logging import get_logger
from orchestrator.settings import Settings
from orchestrator.store import Store
from schemas.records import AuditAction, AuditEvent

__all__ = ["CheckpointOnCompletion", "audit_checkpoints"]

log = get_logger(__name__)


class CheckpointOnCompletion:
    """The store, except that appending a `completion_recorded` entry also publishes a signed
    checkpoint. Everything else is the store's own method."""

    def __init__(self, store: Store, publisher: KafkaCheckpointPublisher) -> None:
        self._store = store
        self._publisher = publisher

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def append_audit(self, event: AuditEvent) -> AuditEvent:
        stored = await self._store.append_audit(event)
        if stored.action is AuditAction.COMPLETION_RECORDED:
            await self._publisher.checkpoint_completion(stored.request_id)
        return stored


async def audit_checkpoints(
    settings: Settings, store: Store, stack: contextlib.AsyncExitStack
) -> Store | CheckpointOnCompletion:
    """The store to hand to `OrchestratorActivities`, and the periodic task (stopped when
    `stack` closes). Without `DSR_AUDIT_SIGNING_KEY` nothing is signed (a warning says so)."""
    private = signing_key_from_settings(settings)
    if private is None:
        log.warning("DSR_AUDIT_SIGNING_KEY is not set: audit checkpoints are not published")
        return store
    publisher = await stack.enter_async_context(KafkaCheckpointPublisher(settings, store, private))
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_periodic_checkpoints(
            publisher.checkpoint_head, settings.audit_checkpoint_interval, stop
        )
    )

    async def finish() -> None:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(finish)
    return CheckpointOnCompletion(store, publisher)
