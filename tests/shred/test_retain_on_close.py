"""Storing a completion record keeps the request's data key for the policy's readable-after-close
period (`retain_until`), per kind, pushed on and never back — so any timer that destroys keys
(the package expiry too) honours it, whether or not the sweep has run since."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.datakeys import DataKeyRing
from orchestrator.shredder import RetainOnClose
from orchestrator.store import Store
from orchestrator.store._keys import KeyStore
from policy.loader import load_policy
from schemas.events import Channel, RequestKind, VerificationMethod
from schemas.records import CompletionRecord, RestrictionLiftRecord
from schemas.status import RequestStatus, RestrictionState

CLOSED = datetime(2026, 12, 1, 10, tzinfo=UTC)


def _record(request_id: str, kind: RequestKind, status: RequestStatus) -> CompletionRecord:
    return CompletionRecord(
        request_id=request_id,
        kind=kind,
        channel=Channel.PORTAL,
        status=status,
        event_id=f"evt-{request_id}",
        verification_method=VerificationMethod.BANKID,
        received_at=CLOSED - timedelta(days=3),
        due_at=CLOSED + timedelta(days=27),
        completed_at=CLOSED,
        workflow_id=f"dsr-{request_id}",
        workflow_run_id="run-1",
        systems=[],
    )


async def test_the_key_is_kept_for_the_readable_period_from_the_close(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    policy = load_policy(None).model_copy(
        update={"readable_after_close_days_by_kind": {RequestKind.ERASURE: 7}}
    )
    async with await Store.open(url) as store, await KeyStore.open(url) as key_store:
        ring = DataKeyRing({"m1": os.urandom(32)}, store=key_store)
        records = RetainOnClose(store, key_store, policy)
        cases = {
            "req-retain-access": (RequestKind.ACCESS, RequestStatus.COMPLETED, 30),
            "req-retain-denied": (RequestKind.RECTIFICATION, RequestStatus.DENIED, 30),
            "req-retain-erasure": (RequestKind.ERASURE, RequestStatus.COMPLETED, 7),
        }
        for request_id, (kind, status, days) in cases.items():
            await ring.keys_for(request_id, create=True)
            stored = await records.save_completion_record(_record(request_id, kind, status))
            assert stored.request_id == request_id
            key = await key_store.get_data_key(request_id)
            assert key is not None and key.retain_until == CLOSED + timedelta(days=days)

        # Something that needs the key longer (a package) is never cut short by it.
        later = CLOSED + timedelta(days=90)
        await key_store.retain_data_key("req-retain-access", later)
        await records.save_completion_record(
            _record("req-retain-access", RequestKind.ACCESS, RequestStatus.COMPLETED)
        )
        key = await key_store.get_data_key("req-retain-access")
        assert key is not None and key.retain_until == later
        # The rest of the store is the store's own.
        assert (await records.get_completion_record("req-retain-denied")) is not None


async def test_a_lifted_restriction_is_readable_for_the_period_after_its_lift(
    tmp_path: Path,
) -> None:
    """Once a restriction is lifted (until then its running hold keeps the key, see
    tests/integration/test_lift_restriction.py), the readable period runs from the lift."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    policy = load_policy(None)
    readable = policy.readable_after_close(RequestKind.RESTRICTION)
    request_id = "req-retain-restriction"
    lifted_at = CLOSED + timedelta(days=200)
    async with await Store.open(url) as store, await KeyStore.open(url) as key_store:
        ring = DataKeyRing({"m1": os.urandom(32)}, store=key_store)
        records = RetainOnClose(store, key_store, policy)
        await ring.keys_for(request_id, create=True)
        await records.save_completion_record(
            _record(request_id, RequestKind.RESTRICTION, RequestStatus.COMPLETED)
        )
        lift = RestrictionLiftRecord(
            requested_by="dpo@company.se",
            requested_at=lifted_at - timedelta(minutes=1),
            note="accuracy verified",
            state=RestrictionState.LIFTED,
            announced_at=lifted_at - timedelta(minutes=1),
            finished_at=lifted_at,
            systems=[],
        )
        stored = await records.record_restriction_lift(request_id, lift)
        assert stored is not None and stored.restriction_lift == lift
        key = await key_store.get_data_key(request_id)
        assert key is not None and key.retain_until == lifted_at + readable
