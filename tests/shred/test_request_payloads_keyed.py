"""Nothing is sealed for a request's workflow with the master key, and `dsr shred verify` does
not take a master-key payload in a request's history for "no personal data".

A client without DSR_DATABASE_URL (a DPO's shell: `dsr narrow ID --type personnummer --value
…`) used to have no key ring, so its codec sealed the update for `dsr-<id>` with the master key;
after `dsr shred now` the personnummer still opened, and the history verdict counted the
payload under `master_key`, which the verdict ignores."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import WorkflowSerializationContext

import orchestrator.codec as codec_module
import orchestrator.temporal_client as temporal_client
from orchestrator.codec import (
    DATA_KEY_ENCODING,
    ENCODING,
    AesGcmCodec,
    PayloadKeyMissing,
    encrypted_data_converter,
)
from orchestrator.datakeys import DataKeyRing
from orchestrator.settings import Settings
from orchestrator.shred_history import history_verdict
from orchestrator.store._keys import KeyStore

MASTER = {"m1": os.urandom(32)}
PAYLOAD_KEYS = f"m1:{base64.b64encode(MASTER['m1']).decode()}"
R = "req-2026-abcdef01"
NARROW = [{"actor": "dpo", "identifier": {"type": "personnummer", "value": "198112189876"}}]


def _context(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


async def _encode(converter: Any, workflow_id: str | None, values: list[Any]) -> list[Payload]:
    if workflow_id is not None:
        converter = converter.with_context(_context(workflow_id))
    payloads = converter.payload_converter.to_payloads(values)
    return list(await converter.payload_codec.encode(payloads))


async def test_a_codec_without_a_key_ring_refuses_to_seal_for_a_request() -> None:
    converter = encrypted_data_converter(MASTER)
    with pytest.raises(codec_module.DataKeyRingRequired):
        await _encode(converter, f"dsr-{R}", NARROW)
    with pytest.raises(codec_module.DataKeyRingRequired):
        await _encode(converter, f"dsr-{R}.child", NARROW)
    # Workflows of no request (and no context at all) keep the master key, as before.
    for workflow_id in (f"package-expiry-{R}", f"dsr-{R}-deferred-erasure", "noop-1", None):
        (payload,) = await _encode(converter, workflow_id, ["refs only"])
        assert payload.metadata["encoding"] == ENCODING
        assert await converter.decode([payload], [str]) == ["refs only"]


async def test_a_client_without_a_configured_store_url_uses_the_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default DSR_DATABASE_URL is the local store (`sqlite+aiosqlite:///dsr.db`, what the
    worker uses too): the client seals with the request's data key from it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DSR_DATABASE_URL", raising=False)
    settings = Settings(payload_keys=PAYLOAD_KEYS, signing_keys="portal:x")
    assert "database_url" not in settings.model_fields_set
    tool = temporal_client._data_keys(settings, creates=False)  # a DPO's command
    try:
        # No key for R in this store: the tool reads another store than the worker. It refuses
        # rather than make a key there the worker could never open.
        with pytest.raises(PayloadKeyMissing):
            await _encode(
                encrypted_data_converter(settings.payload_key_ring(), tool), f"dsr-{R}", NARROW
            )
    finally:
        await tool.aclose()
    ring = temporal_client._data_keys(settings, creates=True)  # the intake, starting R
    try:
        converter = encrypted_data_converter(settings.payload_key_ring(), ring)
        (sealed,) = await _encode(converter, f"dsr-{R}", NARROW)
        assert sealed.metadata["encoding"] == DATA_KEY_ENCODING
        assert b"198112189876" not in sealed.SerializeToString()
        assert (tmp_path / "dsr.db").exists()
        assert await ring.destroy(R)  # dsr shred now
    finally:
        await ring.aclose()
    with pytest.raises(PayloadKeyMissing):  # the master key alone opens nothing of it
        await AesGcmCodec(MASTER).decode([sealed])


class _Handle:
    def __init__(self, history: WorkflowHistory) -> None:
        self._history = history

    async def fetch_history(self) -> WorkflowHistory:
        return self._history


class _Client:
    def __init__(self, history: WorkflowHistory) -> None:
        self._history = history

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        assert workflow_id == f"dsr-{R}"
        return _Handle(self._history)


async def test_a_readable_master_key_payload_in_a_request_history_is_not_shredded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    settings = Settings(payload_keys=PAYLOAD_KEYS, database_url=store_url, signing_keys="p:x")
    async with await KeyStore.open(store_url) as key_store:
        ring = DataKeyRing(MASTER, store=key_store, cache_ttl=0)
        keyed = encrypted_data_converter(MASTER, ring)
        master = AesGcmCodec(MASTER)
        plain = encrypted_data_converter(MASTER).payload_converter
        retired = AesGcmCodec({"m0": os.urandom(32)})  # a master key no longer in the ring

        (started,) = await _encode(keyed, f"dsr-{R}", [{"request_id": R, "email": "a@b.se"}])
        (narrowed,) = await master.encode(plain.to_payloads(NARROW))  # the old client's update
        (child_input,) = await master.encode(plain.to_payloads([{"request_id": R, "refs": []}]))
        (nothing,) = await master.encode(plain.to_payloads([None]))
        (gone,) = await retired.encode(plain.to_payloads(NARROW))
        events = [HistoryEvent(event_id=n) for n in range(1, 6)]
        events[0].workflow_execution_started_event_attributes.input.payloads.append(started)
        events[1].workflow_execution_signaled_event_attributes.input.payloads.append(narrowed)
        child = events[2].start_child_workflow_execution_initiated_event_attributes
        child.workflow_id = f"dsr-{R}-deferred-erasure"  # of no request: master key by design
        child.input.payloads.append(child_input)
        events[3].workflow_execution_completed_event_attributes.result.payloads.append(nothing)
        events[4].workflow_execution_signaled_event_attributes.input.payloads.append(gone)
        assert await ring.destroy(R)

    async def connect(settings: Settings, data_keys: DataKeyRing | None = None) -> _Client:
        return _Client(WorkflowHistory(f"dsr-{R}", events))

    monkeypatch.setattr(temporal_client, "connect_temporal", connect)
    verdict = await history_verdict(settings, R)
    assert (verdict.request_payloads, verdict.shredded) == (1, 1)
    assert verdict.master_key == 4
    assert verdict.readable == 1  # the personnummer the old client sealed with the master key
    assert verdict.master_key_readable == 1
