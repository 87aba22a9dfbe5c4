"""The per-request payload codec: each request's payloads under its own data key (found from the
serialization context's workflow id), old master-key payloads still readable, and a destroyed
key making the request's payloads — and only that request's — unreadable."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from orchestrator.codec import (
    DATA_KEY_ENCODING,
    ENCODING,
    AesGcmCodec,
    PayloadShredded,
    encrypted_data_converter,
    request_id_of_workflow,
)
from orchestrator.datakeys import DataKeyRing
from orchestrator.store._keys import KeyStore
from schemas.workflow import workflow_id_for

MASTER = {"m1": os.urandom(32)}


@pytest.fixture
async def ring(tmp_path: Path) -> AsyncIterator[DataKeyRing]:
    store = await KeyStore.open(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    yield DataKeyRing(MASTER, store=store)
    await store.close()


def _workflow(request_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(
        namespace="default", workflow_id=workflow_id_for(request_id)
    )


def test_the_request_is_read_from_the_workflow_id() -> None:
    assert request_id_of_workflow("dsr-req-2026-000123") == "req-2026-000123"
    assert request_id_of_workflow("dsr-req-2026-000123.follow-up") == "req-2026-000123"
    assert request_id_of_workflow("package-expiry-req-2026-000123") is None
    # Outlives the key and holds record refs only (workflows/follow_up.py): the master key.
    assert request_id_of_workflow("dsr-req-2026-000123-deferred-erasure") is None
    assert request_id_of_workflow("noop-1-abcd") is None
    assert request_id_of_workflow(None) is None


async def test_payloads_of_a_request_use_its_key_and_shred_with_it(ring: DataKeyRing) -> None:
    codec = AesGcmCodec(MASTER, data_keys=ring)
    secret = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"anna@example.se"}')

    workflow_side = codec.with_context(_workflow("req-shred-0001"))
    activity_side = codec.with_context(
        ActivitySerializationContext(
            namespace="default",
            activity_id="1",
            activity_type="connector.export",
            activity_task_queue="q",
            workflow_id=workflow_id_for("req-shred-0001"),
            workflow_type="DsrWorkflowV2",
            is_local=False,
        )
    )
    (sealed,) = await workflow_side.encode([secret])
    (sealed_by_activity,) = await activity_side.encode([secret])
    (other,) = await codec.with_context(_workflow("req-other-0001")).encode([secret])
    (untied,) = await codec.with_context(
        WorkflowSerializationContext(namespace="default", workflow_id="package-expiry-x")
    ).encode([secret])

    assert sealed.metadata["encoding"] == DATA_KEY_ENCODING
    assert sealed.metadata["encryption-request"] == b"req-shred-0001"
    assert b"anna" not in sealed.data
    assert untied.metadata["encoding"] == ENCODING  # no request: the master key
    # Decoding needs no context: the request id travels in the metadata.
    assert await codec.decode([sealed, sealed_by_activity, other, untied]) == [secret] * 4

    assert await ring.destroy("req-shred-0001")
    fresh = AesGcmCodec(MASTER, data_keys=DataKeyRing(MASTER, store=await ring.store()))
    for codec_now in (codec, fresh):
        with pytest.raises(PayloadShredded):
            await codec_now.decode([sealed])
        with pytest.raises(PayloadShredded):
            await codec_now.decode([sealed_by_activity])
        assert await codec_now.decode([other, untied]) == [secret, secret]
    with pytest.raises(PayloadShredded):
        await workflow_side.encode([secret])  # nothing new is ever sealed for a shredded request


async def test_master_key_payloads_still_decode_with_the_data_key_codec(ring: DataKeyRing) -> None:
    """Histories written before per-request keys (tests/histories) stay readable."""
    old = encrypted_data_converter(MASTER)
    (payload,) = await old.encode(["hello"])
    assert payload.metadata["encoding"] == ENCODING
    new = encrypted_data_converter(MASTER, ring).with_context(_workflow("req-old-000001"))
    assert await new.decode([payload], [str]) == ["hello"]


async def test_a_key_is_created_once_even_when_processes_race(ring: DataKeyRing) -> None:
    other = DataKeyRing(MASTER, store=await ring.store())
    first = await ring.keys_for("req-race-00001", create=True)
    second = await other.keys_for("req-race-00001", create=True)
    assert first.package == second.package


async def test_a_recorded_history_is_resealed_under_the_master_key(ring: DataKeyRing) -> None:
    """Replay fixtures recorded with per-request keys must replay without the recording store."""
    from temporalio.api.history.v1 import HistoryEvent
    from temporalio.client import WorkflowHistory

    from orchestrator.codec import reseal_under_master_key

    codec = AesGcmCodec(MASTER, data_keys=ring)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"anna@example.se"')
    (sealed,) = await codec.with_context(_workflow("req-record-001")).encode([plain])
    event = HistoryEvent(event_id=1)
    event.workflow_execution_started_event_attributes.input.payloads.append(sealed)
    history = WorkflowHistory("dsr-req-record-001", [event])

    resealed = await reseal_under_master_key(history, codec)
    (payload,) = resealed.events[0].workflow_execution_started_event_attributes.input.payloads
    assert payload.metadata["encoding"] == ENCODING
    assert await AesGcmCodec(MASTER).decode([payload]) == [plain]  # no key store needed
    assert history.events[0] is not resealed.events[0]  # the original is left as it was
