"""The Temporal-history part of `dsr shred verify`: can any payload of the request's history
still be decrypted? Every payload of the workflow's history is classified: sealed with the
request's data key (and whether that still opens), under the master key, unencrypted, a header
(trace context, not passed through the codec), or the SDK's own metadata (local-activity and
patch markers, the change-version search attribute: ids, attempts, times, patch ids).

A master-key payload in a request's own history is no proof of anything: the histories written
before per-request keys, and whatever a client without the store's key ring sent the request
(a DPO's `dsr narrow --value <personnummer>`), sit there under a key that is never destroyed.
So each one is opened with the master keys, and one that opens counts as readable — unless it
is known to hold no personal data: it belongs to a child (or external) workflow of no request,
which runs under the master key on purpose and outlives the key (the deferred erasure and the
package expiry: record refs and dates), or it holds nothing at all (`null`). Why not look at
what it says: telling personal data from the rest by content (a name, an address, a note) is a
guess, and "shredded" must not be one; the event a payload sits in is a fact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.codec import (
    DATA_KEY_ENCODING,
    ENCODING,
    AesGcmCodec,
    PayloadKeyMissing,
    PayloadShredded,
    nested_payloads,
    request_id_of_workflow,
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
    readable: int = 0  # payloads that still decrypt: under the data key, or master_key_readable
    master_key: int = 0  # payloads under the master key (v1, no request context, no key ring)
    master_key_readable: int = 0  # of those, the ones that open and are not known safe
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


# History events about another workflow (a child started, or signalled as an external one):
# their payloads are sealed for that workflow, as its own id says (orchestrator.codec).
_CHILD_OR_EXTERNAL = ("child_workflow", "external_workflow")


def _of_a_workflow_of_no_request(event: Any) -> bool:
    """Whether the event concerns a child or external workflow that belongs to no request
    (`request_id_of_workflow` is None: the deferred erasure, the package expiry): its payloads
    are under the master key by design, and that workflow's contract keeps personal data out."""
    kind = event.WhichOneof("attributes")
    if kind is None or not any(part in kind for part in _CHILD_OR_EXTERNAL):
        return False
    attributes = getattr(event, kind)
    fields = {field.name for field, _ in attributes.ListFields()}
    if "workflow_id" in fields:
        workflow_id = attributes.workflow_id
    elif "workflow_execution" in fields:
        workflow_id = attributes.workflow_execution.workflow_id
    else:
        return False
    return bool(workflow_id) and request_id_of_workflow(workflow_id) is None


async def _opens_with_content(master: AesGcmCodec, payload: Payload) -> bool:
    """A master-key payload that still decrypts and holds something (not empty, not `null`).
    One sealed with a master key no longer in DSR_PAYLOAD_KEYS opens nowhere."""
    try:
        (plain,) = await master.decode([payload])
    except (PayloadKeyMissing, InvalidTag):
        return False
    return plain.data.strip() not in (b"", b"null")


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
        master = AesGcmCodec(settings.payload_key_ring())
        for event in history.events:
            metadata = _sdk_metadata(event)
            unscoped = _of_a_workflow_of_no_request(event)
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
                    if not unscoped and await _opens_with_content(master, payload):
                        verdict.master_key_readable += 1
                        verdict.readable += 1
                elif payload.data:
                    verdict.clear += 1
    finally:
        await key_store.close()
    return verdict
