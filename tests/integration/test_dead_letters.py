"""Every event that cannot be accepted lands in the DLQ with a machine-readable reason and its
original bytes and headers sealed (encrypted); nothing is started; the consumer lives on."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from temporalio.client import Client
from temporalio.service import RPCError

from orchestrator.dlq import SourcePosition, open_sealed
from orchestrator.signing import signature_headers
from schemas.workflow import workflow_id_for
from tests.integration.conftest import (
    Stack,
    completed,
    dead_letters_for,
    new_request_id,
    publish_raw,
    publish_signed,
    request_event,
)

pytestmark = pytest.mark.integration


def _signed(stack: Stack, value: bytes) -> list[tuple[str, bytes]]:
    key_id, secret = next(iter(stack.settings.signing_key_ring().items()))
    return signature_headers(value, key_id, secret)


async def test_bad_events_are_dead_lettered_with_reasons_and_nothing_starts(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, dlq: AIOKafkaConsumer
) -> None:
    person = stack.fresh_customer()

    def valid(kind: str = "access") -> tuple[str, dict]:  # type: ignore[type-arg]
        document = request_event(kind, {"email": person.email})
        return document["data"]["request_id"], document

    cases: dict[str, tuple[str, bytes, list[tuple[str, bytes]]]] = {}
    # not JSON, but correctly signed: the signature is checked before parsing
    rid = new_request_id()
    garbage = b"\x00\xffnot json at all"
    cases["not_json"] = (rid, garbage, _signed(stack, garbage))
    # unsigned
    rid, doc = valid()
    value = json.dumps(doc).encode()
    cases["missing_signature"] = (rid, value, [])
    # forged: signed with a key nobody gave the portal
    rid, doc = valid("erasure")
    value = json.dumps(doc).encode()
    forged = signature_headers(value, "portal-1", secrets.token_bytes(32))
    cases["bad_signature"] = (rid, value, forged)
    # unknown key id
    rid, doc = valid("erasure")
    value = json.dumps(doc).encode()
    cases["unknown_key"] = (rid, value, signature_headers(value, "stolen", b"x" * 32))
    # unknown kind
    rid, doc = valid()
    doc["data"]["kind"] = "delete_everything"
    value = json.dumps(doc).encode()
    cases["schema_violation"] = (rid, value, _signed(stack, value))
    # not a CloudEvent
    rid = new_request_id()
    value = json.dumps({"request_id": rid, "kind": "access"}).encode()
    cases["not_cloudevent"] = (rid, value, _signed(stack, value))
    # oversize (> 256 KiB)
    rid, doc = valid()
    doc["padding"] = "x" * (257 * 1024)
    value = json.dumps(doc).encode()
    cases["oversize"] = (rid, value, _signed(stack, value))
    # another event type on the requests topic
    rid, doc = valid()
    doc["type"] = "dsr.status_changed.v1"
    value = json.dumps(doc).encode()
    cases["unsupported_type"] = (rid, value, _signed(stack, value))
    # the poison pill: deeply nested JSON, correctly signed (crashed the agent: RecursionError)
    rid = new_request_id()
    value = b"[" * 100_000
    cases["not_json/nested"] = (rid, value, _signed(stack, value))
    # a legal clock starting in the future
    rid, doc = valid()
    doc["data"]["received_at"] = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    value = json.dumps(doc).encode()
    cases["schema_violation/future"] = (rid, value, _signed(stack, value))
    # a unix time where an RFC 3339 string belongs (was accepted as 1970)
    rid, doc = valid()
    doc["data"]["received_at"] = 1
    value = json.dumps(doc).encode()
    cases["schema_violation/number"] = (rid, value, _signed(stack, value))

    extra_header = ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    for rid, value, headers in cases.values():
        await publish_raw(
            producer, stack, value, key=rid.encode(), headers=[*headers, extra_header]
        )

    found = await dead_letters_for(dlq, {rid.encode() for rid, _, _ in cases.values()})

    keys = stack.settings.payload_key_ring()
    for case, (rid, value, headers) in cases.items():
        record = found[rid.encode()]
        got = dict(record.headers)
        assert got["dsr-dlq-reason"].decode() == case.partition("/")[0], rid
        assert person.email.encode() not in record.value, "the value is sealed"
        assert b"traceparent" not in got, "original headers only inside the seal"
        assert got["dsr-dlq-source-topic"] == b"dsr.requests.v1"
        assert int(got["dsr-dlq-source-offset"]) >= 0
        assert person.email.encode() not in got["dsr-dlq-detail"]
        original = open_sealed(
            record.value,
            keys=keys,
            position=SourcePosition(
                topic="dsr.requests.v1",
                partition=int(got["dsr-dlq-source-partition"]),
                offset=int(got["dsr-dlq-source-offset"]),
            ),
            now=datetime.now(UTC),
        )
        limit = stack.settings.max_event_bytes
        assert original.value == value[:limit], "the original bytes (cut at the size limit)"
        assert original.truncated is (len(value) > limit)
        assert dict(original.headers)["traceparent"] == extra_header[1]
        for name, sent in headers:
            assert dict(original.headers)[name] == sent

    def detail(case: str) -> bytes:
        return dict(found[cases[case][0].encode()].headers)["dsr-dlq-detail"]

    assert b"data.kind" in detail("schema_violation")
    assert b"data.received_at: in_future" in detail("schema_violation/future")
    assert b"data.received_at" in detail("schema_violation/number")
    assert b"depth" in detail("not_json/nested")

    for rid, _, _ in cases.values():
        with pytest.raises(RPCError):
            await temporal.get_workflow_handle(workflow_id_for(rid)).describe()

    # The consumer survived all of it: a good event right after still completes.
    rid = await publish_signed(producer, stack, request_event("access", {"email": person.email}))
    assert (await completed(temporal, rid)).status.value == "completed"
    assert stack.intake.alive
