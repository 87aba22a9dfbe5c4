"""A restriction held for its lift (Art. 18): the worker's record store, except that storing a
completed restriction request's completion record also starts the lift's hold.

Why here: a restriction is lifted weeks or months after its request closed, but the identifiers
each system was restricted by are only in the request's own Temporal history — dropped after
the namespace's retention, unreadable once the sweep destroyed the request's data key. The
completion record is stored by the request's `record_completion` activity while its workflow
still runs, so its history is readable then: `start_restriction_hold`
(workflows/lift_activities.py) reads it and starts `LiftRestriction` with the systems and their
identifiers in its sealed input, waiting for the DPO's decision (workflows/lift_restriction.py).
The request's workflow (workflows/dsr.py) is not changed: nothing in its command sequence
differs, and every request that closes on a worker with this store gets its hold.

Before the hold starts, the keyed hashes (fingerprints, `policy.fingerprints`) of the request's
subject and of every system's subject in the hold's input are kept in the store under the
request (`remember_subject`, kind restriction), as `check_repeat` keeps a copy request's: so a
later lift of another restriction of the same person finds this one in force and leaves the
systems it restricted restricted (orchestrator/other_restrictions.py). No identifier reaches the
store; the hash key is the worker's (DSR_SUBJECT_HASH_KEY), as for `check_repeat`. Holds started
before this had none kept: another restriction's lift does not see them (see there).

The store is written first, then the hold started: a retried activity finds the record stored
and the hold running, and starts nothing twice. A hold that cannot be started because the
history cannot be read (never expected while the workflow runs) is logged and left out — the
request still closes, and the front door lifts it the old way, from the history, while that
exists; a Temporal that does not answer fails the activity, which is retried.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from orchestrator.logging import get_logger
from policy.fingerprints import identity_fingerprints, subject_fingerprints
from schemas.events import RequestKind
from schemas.records import CompletionRecord
from schemas.subject import SubjectRef
from workflows.lift_activities import start_restriction_hold

__all__ = ["HoldRestrictions"]

log = get_logger(__name__)

_HISTORY_NOT_READ = frozenset({"RestrictionHistoryGone", "RestrictionHistoryUnreadable"})


class HoldRestrictions:
    """The wrapped record store; `save_completion_record` also starts a completed restriction's
    hold on `task_queue` (the orchestrator's, where the lift runs), having kept its subjects'
    fingerprints (hashed with `subject_hash_key`). Everything else is the store's own method."""

    def __init__(
        self, store: Any, client: Client, task_queue: str, *, subject_hash_key: bytes
    ) -> None:
        if not subject_hash_key:
            raise ValueError("a restriction hold needs the subject hash key")
        self._store = store
        self._client = client
        self._task_queue = task_queue
        self._subject_hash_key = subject_hash_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def save_completion_record(self, record: CompletionRecord) -> CompletionRecord:
        stored: CompletionRecord = await self._store.save_completion_record(record)

        async def remember(subjects: list[SubjectRef]) -> None:
            key = self._subject_hash_key
            fingerprints = sorted({f for s in subjects for f in subject_fingerprints(s, key)})
            identity = {f for s in subjects for f in identity_fingerprints(s, key)}
            await self._store.remember_subject(
                stored.request_id,
                RequestKind.RESTRICTION,
                stored.received_at,
                fingerprints,
                identity,
            )

        try:
            await start_restriction_hold(
                self._client, stored, self._task_queue, remember_subjects=remember
            )
        except ApplicationError as error:
            if error.type not in _HISTORY_NOT_READ:
                raise
            log.warning(
                "restriction hold not started",
                request_id=stored.request_id,
                error_type=error.type,
            )
        return stored
