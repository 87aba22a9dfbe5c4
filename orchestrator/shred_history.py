"""The Temporal-history part of `dsr shred verify`: can any payload of the request's history
still be decrypted? Every payload of the workflow's history is classified: sealed with the
request's data key (and whether that still opens), under the master key (workflows that belong
to no request), unencrypted, a header (trace context, not passed through the codec), or a
the SDK's own metadata (local-activity and patch markers, the change-version search
attribute: ids, attempts, times, patch ids).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from orchestrator.codec import (
    DATA_KEY_ENCODING,
    ENCODING,
    AesGcmCodec,
    PayloadKeyMissing,
    PayloadShredded,
    nested_payloads,
)
from orchestrator.datakeys import DataKeyRing
from orchestrator.settings import Settings
from orchestrator.store._keys import KeyStore
from schemas.workflow import workflow_id_for

__all__ = ["HistoryVerdict", "history_verdict"]


@dataclass
class HistoryVerdict:
    found: bool = True
    request_payloads: int = 0
    shredded: int = 0
    readable: int = 0  # request payloads that still decrypt
    master_key: int = 0  # payloads under the master key (v1 or no request context)
    clear: int = 0  # payloads with no encryption at all (outside headers)
    headers: int = 0  # header payloads (trace context): not passed through the codec
    sdk_metadata: int = 0  # the SDK's own markers and patch search attribute (no data of ours)


# What the SDK's core writes itself, unencoded (temporal sdk-core): a local activity's marker
# metadata (`details["data"]`: ids, attempt, times — its result and any input sit beside it
# under the codec), a patch marker (`details["patch-data"]`: the patch id) and the
# `TemporalChangeVersion` search attribute listing patch ids. Never a payload of ours; each is
# recognised by its exact shape, anything else unencrypted is counted as such.
_SDK_MARKER_FIELDS = {
    ("core_local_activity", "data"): frozenset(
        {
            "seq",
            "attempt",
            "activity_id",
            "activity_type",
            "complete_time",
            "backoff",
            "original_schedule_time",
            "activation_index",
        }
    ),
    ("core_patch", "patch-data"): frozenset({"id", "deprecated"}),
}
_CHANGE_VERSION = "TemporalChangeVersion"


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _sdk_metadata(event: Any) -> set[bytes]:
    """The serialized payloads of `event` that are the SDK's own metadata (see above)."""
    found = set()
    if event.HasField("marker_recorded_event_attributes"):
        attributes = event.marker_recorded_event_attributes
        for (marker, key), fields in _SDK_MARKER_FIELDS.items():
            if attributes.marker_name != marker or key not in attributes.details:
                continue
            for payload in attributes.details[key].payloads:
                document = _json(payload.data)
                if isinstance(document, dict) and set(document) <= fields:
                    found.add(payload.SerializeToString())
    if event.HasField("upsert_workflow_search_attributes_event_attributes"):
        upsert = event.upsert_workflow_search_attributes_event_attributes
        indexed = upsert.search_attributes.indexed_fields
        if _CHANGE_VERSION in indexed:
            versions = _json(indexed[_CHANGE_VERSION].data)
            if isinstance(versions, list) and all(isinstance(v, str) for v in versions):
                found.add(indexed[_CHANGE_VERSION].SerializeToString())
    return found


async def history_verdict(settings: Settings, request_id: str) -> HistoryVerdict:
    from orchestrator.temporal_client import connect_temporal

    verdict = HistoryVerdict()
    key_store = await KeyStore.open(settings.database_url)
    try:
        keys = DataKeyRing(settings.payload_key_ring(), store=key_store, cache_ttl=0)
        client = await connect_temporal(settings, keys)
        handle = client.get_workflow_handle(workflow_id_for(request_id))
        try:
            history = await handle.fetch_history()
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return HistoryVerdict(found=False)
            raise
        codec = AesGcmCodec(settings.payload_key_ring(), data_keys=keys)
        for event in history.events:
            metadata = _sdk_metadata(event)
            for payload, in_header in nested_payloads(event):
                encoding = payload.metadata.get("encoding")
                if metadata and payload.SerializeToString() in metadata:
                    verdict.sdk_metadata += 1
                elif in_header and encoding not in (DATA_KEY_ENCODING, ENCODING):
                    verdict.headers += 1
                elif encoding == DATA_KEY_ENCODING:
                    verdict.request_payloads += 1
                    try:
                        await codec.decode([payload])
                        verdict.readable += 1
                    except PayloadShredded:
                        verdict.shredded += 1
                    except PayloadKeyMissing:
                        verdict.shredded += 1  # no key for it anywhere: unreadable as well
                elif encoding == ENCODING:
                    verdict.master_key += 1
                elif payload.data:
                    verdict.clear += 1
    finally:
        await key_store.close()
    return verdict
