"""`dsr shred verify` tells the SDK's own unencoded metadata (local-activity and patch markers,
the change-version search attribute) from a payload of ours left unencrypted — by exact shape,
so nothing else can hide as metadata."""

from __future__ import annotations

import json

from temporalio.api.common.v1 import Payload, Payloads, SearchAttributes
from temporalio.api.history.v1 import (
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
)

from orchestrator.shred_history import _sdk_metadata


def _json(document: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(document).encode())


def _marker(name: str, details: dict[str, Payload]) -> HistoryEvent:
    return HistoryEvent(
        marker_recorded_event_attributes=MarkerRecordedEventAttributes(
            marker_name=name, details={k: Payloads(payloads=[p]) for k, p in details.items()}
        )
    )


def test_the_sdk_metadata_is_recognised_by_its_shape() -> None:
    meta = _json({"seq": 3, "attempt": 1, "activity_id": "3", "activity_type": "x"})
    result = Payload(metadata={"encoding": b"binary/encrypted-aes256gcm-dk"}, data=b"sealed")
    event = _marker("core_local_activity", {"data": meta, "result": result})
    assert _sdk_metadata(event) == {meta.SerializeToString()}  # the result is not metadata

    patch = _json({"id": "local-bookkeeping-v1", "deprecated": False})
    assert _sdk_metadata(_marker("core_patch", {"patch-data": patch})) == {
        patch.SerializeToString()
    }

    versions = _json(["local-bookkeeping-v1"])
    upsert = HistoryEvent(
        upsert_workflow_search_attributes_event_attributes=(
            UpsertWorkflowSearchAttributesEventAttributes(
                search_attributes=SearchAttributes(
                    indexed_fields={"TemporalChangeVersion": versions}
                )
            )
        )
    )
    assert _sdk_metadata(upsert) == {versions.SerializeToString()}


def test_anything_else_unencrypted_is_not_metadata() -> None:
    leaked = _json({"seq": 3, "email": "anna.lindqvist@exempel.se"})  # an extra field
    assert _sdk_metadata(_marker("core_local_activity", {"data": leaked})) == set()
    ours = _json({"id": "x"})
    assert _sdk_metadata(_marker("my_marker", {"data": ours})) == set()  # not the SDK's
    assert _sdk_metadata(_marker("core_local_activity", {"input": ours})) == set()
    not_json = Payload(metadata={"encoding": b"binary/plain"}, data=b"\x00anna")
    assert _sdk_metadata(_marker("core_patch", {"patch-data": not_json})) == set()
    other_attribute = HistoryEvent(
        upsert_workflow_search_attributes_event_attributes=(
            UpsertWorkflowSearchAttributesEventAttributes(
                search_attributes=SearchAttributes(
                    indexed_fields={"CustomerEmail": _json(["anna@exempel.se"])}
                )
            )
        )
    )
    assert _sdk_metadata(other_attribute) == set()
