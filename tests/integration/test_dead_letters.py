"""Every event that cannot be accepted lands in the DLQ with a machine-readable reason and its
original bytes and headers sealed (encrypted); nothing is started; the consumer lives on."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from temporalio.client import Client
from temporalio.service import RPCError

from orchestrator.dlq import SourcePosition, build_dead_letter, open_sealed, opening_keys
from orchestrator.signing import signature_headers
from orchestrator.store import Store
from schemas.events import DeadLetterReason
from schemas.records import AuditAction
from schemas.workflow import workflow_id_for
from tests.integration.conftest import (
    Stack,
    completed,
    dead_letters_at,
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
    where: dict[str, tuple[int, int]] = {}
    for case, (rid, value, headers) in cases.items():
        where[case] = await publish_raw(
            producer, stack, value, key=rid.encode(), headers=[*headers, extra_header]
        )

    at = await dead_letters_at(dlq, set(where.values()))
    found = {cases[case][0].encode(): at[where[case]] for case in cases}
    # Refused before the signature was verified: nothing of the record is believed.
    unsigned = {"missing_signature", "bad_signature", "unknown_key", "oversize"}

    for case, (rid, value, headers) in cases.items():
        record = found[rid.encode()]
        got = dict(record.headers)
        assert got["dsr-dlq-reason"].decode() == case.partition("/")[0], rid
        assert person.email.encode() not in record.value, "the value is sealed"
        assert b"traceparent" not in got, "original headers only inside the seal"
        assert got["dsr-dlq-source-topic"] == b"dsr.requests.v1"
        assert int(got["dsr-dlq-source-offset"]) >= 0
        assert person.email.encode() not in got["dsr-dlq-detail"]
        if case in unsigned:
            # The key and the id in the body are a producer's free text: not kept in clear,
            # no data key made for them; sealed with the DLQ key.
            assert record.key is None, case
            assert got["dsr-dlq-key-id"] == next(iter(stack.settings.payload_key_ring())).encode()
        else:
            # Each names a request id: sealed with that request's data key (shredded with it).
            assert record.key == rid.encode(), case
            assert got["dsr-dlq-key-id"] == f"dk:{rid}".encode()
        original = open_sealed(
            record.value,
            keys=await opening_keys(stack.settings, record.value),
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


def _dsr(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_operator_lists_reads_with_audit_and_redrives_a_fixed_event(
    stack: Stack,
    temporal: Client,
    producer: AIOKafkaProducer,
    dlq: AIOKafkaConsumer,
    tmp_path: Path,
) -> None:
    person = stack.fresh_customer()
    document = request_event("access", {"email": person.email})
    rid = document["data"]["request_id"]
    document["data"]["kind"] = "acess"  # the portal's typo
    value = json.dumps(document).encode()
    await publish_raw(producer, stack, value, key=rid.encode(), headers=_signed(stack, value))
    record = (await dead_letters_for(dlq, {rid.encode()}))[rid.encode()]
    dead_letter_id = f"{record.partition}:{record.offset}"

    listed = _dsr(stack, "dlq", "list", "--json", "--reason", "schema_violation")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["id"] == dead_letter_id)
    assert row["request_id"] == rid and "data.kind" in row["detail"]
    assert person.email not in listed.stdout, "listing decrypts nothing"

    shown = _dsr(stack, "dlq", "show", dead_letter_id, "--actor", "ops-karin", "--json")
    assert shown.returncode == 0, shown.stderr
    opened = json.loads(shown.stdout)
    assert opened["value"]["data"]["subject"]["email"] == person.email
    assert opened["headers"]["dsr-key-id"] == "portal-1"

    still_bad = _dsr(stack, "dlq", "redrive", dead_letter_id, "--actor", "ops-karin")
    assert still_bad.returncode == 1 and "schema_violation" in still_bad.stderr

    document["data"]["kind"] = "access"
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(document))
    redriven = _dsr(
        stack, "dlq", "redrive", dead_letter_id, "--actor", "ops-karin", "--file", str(fixed)
    )
    assert redriven.returncode == 0, redriven.stderr
    assert (await completed(temporal, rid)).status.value == "completed"

    store = await Store.open(stack.env["DSR_DATABASE_URL"])
    try:
        trail = await store.audit_trail(rid)
    finally:
        await store.close()
    reads = [e for e in trail if e.action is AuditAction.DEAD_LETTER_READ]
    assert [(e.actor, e.details["dead_letter"]) for e in reads] == [("ops-karin", dead_letter_id)]
    assert any(e.action is AuditAction.DEAD_LETTER_REDRIVEN for e in trail)


async def test_an_expired_dead_letter_cannot_be_read(
    stack: Stack, producer: AIOKafkaProducer, dlq: AIOKafkaConsumer
) -> None:
    rid = new_request_id()
    settings = stack.settings
    letter = build_dead_letter(
        position=SourcePosition(topic=settings.requests_topic, partition=0, offset=10**9),
        key=rid.encode(),
        value=b'{"old": "event"}',
        headers=[],
        reason=DeadLetterReason.BAD_SIGNATURE,
        detail="signature does not match the event value",
        keys=settings.payload_key_ring(),
        retention=timedelta(days=settings.dlq_retention_days),
        max_value_bytes=settings.max_event_bytes,
        now=datetime.now(UTC) - timedelta(days=31),
    )
    await producer.send_and_wait(
        settings.dlq_topic, key=letter.key, value=letter.value, headers=letter.headers
    )
    record = (await dead_letters_for(dlq, {rid.encode()}))[rid.encode()]
    shown = _dsr(stack, "dlq", "show", f"{record.partition}:{record.offset}", "--actor", "ops")
    assert shown.returncode == 1 and "expired" in shown.stderr
    listed = _dsr(stack, "dlq", "list", "--json")
    assert rid not in listed.stdout, "expired ones are not listed by default"


async def test_fuzzed_batch_through_the_broker_and_the_real_intake(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, dlq: AIOKafkaConsumer
) -> None:
    """Hostile records generated by tests/fuzz, through the real broker into the real intake
    process: every one dead-lettered with its reason, nothing started, the intake alive, and
    a good event right after completes."""
    import random

    from tests.fuzz._events import build_hostile, corpus, signed_with

    secret = stack.settings.signing_key_ring()["portal-1"]
    rng = random.Random(secrets.randbits(64))
    with signed_with(secret):
        cases = [build_hostile(rng) for _ in range(120)] + corpus()
    sent: dict[tuple[int, int], object] = {}
    for case in cases:
        meta = await producer.send_and_wait(
            stack.settings.requests_topic, key=case.key, value=case.value, headers=case.headers
        )
        sent[(meta.partition, meta.offset)] = case
    found: dict[tuple[int, int], dict[str, bytes]] = {}
    async with asyncio.timeout(120):
        while set(found) != set(sent):
            for records in (await dlq.getmany(timeout_ms=200)).values():
                for record in records:
                    headers = dict(record.headers)
                    source = (
                        int(headers.get("dsr-dlq-source-partition", b"-1")),
                        int(headers.get("dsr-dlq-source-offset", b"-1")),
                    )
                    if source in sent and headers.get("dsr-dlq-source-topic") == (
                        stack.settings.requests_topic.encode()
                    ):
                        found[source] = headers
    for position, case in sent.items():
        assert found[position]["dsr-dlq-reason"] == case.reason.value.encode(), case.family  # type: ignore[attr-defined]
    listed = await temporal.count_workflows("WorkflowId STARTS_WITH 'dsr-fz-'")
    assert listed.count == 0, "no hostile record started a workflow"
    assert stack.intake.alive
    person = stack.fresh_customer()
    rid = await publish_signed(producer, stack, request_event("access", {"email": person.email}))
    assert (await completed(temporal, rid)).status.value == "completed"


async def test_the_dlq_topic_expires_its_records_after_the_retention_period(stack: Stack) -> None:
    """What the intake runs first: the DLQ topic is created with the policy's retention.
    (A fresh topic name: on the session broker, a test's consumer may have auto-created the
    shared one before the intake got to it.)"""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from orchestrator.dlq import declare_dlq_topic

    settings = stack.settings.model_copy(
        update={"dlq_topic": f"dsr.requests.v1.dlq-{secrets.token_hex(4)}"}
    )
    await declare_dlq_topic(settings)
    await declare_dlq_topic(settings)  # idempotent
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.infra.kafka)
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.dlq_topic)]
        )
    finally:
        await admin.close()
    (resource,) = response.resources
    configs = {entry[0]: entry[1] for entry in resource[4]}
    assert int(configs["retention.ms"]) == 30 * 24 * 3600 * 1000


def _readable_logs(stack: Stack, names: tuple[str, ...] = ("worker", "intake")) -> str:
    """The orchestrator's own processes' logs, JSON lines decoded (so `\\u00e5` reads `å`)."""
    lines = []
    for name in names:
        for line in (stack.root / "logs" / f"{name}.log").read_text(errors="replace").splitlines():
            try:
                lines.append(json.dumps(json.loads(line), ensure_ascii=False))
            except ValueError:
                lines.append(line)
    return "\n".join(lines)


async def test_generated_personal_data_never_reaches_the_processes_logs(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, dlq: AIOKafkaConsumer
) -> None:
    """Swedish personal data in every format, sent through the real intake and worker (a
    rectification that completes, and refused events that are dead-lettered): none of it may
    appear in their logs."""
    import random

    rng = random.Random(secrets.randbits(32))
    person = stack.fresh_customer()
    secrets_sent: list[str] = [person.email]
    name = f"{rng.choice(['Åsa', 'Örjan', 'Märta'])} {rng.choice(['Wästberg', 'Ängström'])}"
    number = rng.randint(1, 99)
    address = f"Sankt Eriksgatan {number} lgh 1102, 113 {rng.randint(10, 99)} Stockholm"
    identifying = f"Eriksgatan {number} "
    mobile = f"+4670{rng.randint(1000000, 9999999)}"
    secrets_sent += [name, identifying, mobile, name.split()[1]]
    document = request_event(
        "rectification",
        {"email": person.email, "name": name, "phone": mobile},
        rectification={
            "changes": [
                {"field": "address", "value": address},
                {"field": "phone", "value": mobile},
            ]
        },
    )
    await publish_signed(producer, stack, document)  # may wait for a decision: not awaited
    # (its subject names are made up: it may well wait for the DPO; this one completes)
    access = request_event("access", {"email": person.email})
    rid = await publish_signed(producer, stack, access)
    # refused ones: personal data in a bad field, in an unknown key, in a bad signature
    pnr = "19811218-9876"
    bad = request_event(
        "access", {"email": person.email, "personal_identity_number": pnr, "name": name}
    )
    bad_id = bad["data"]["request_id"]
    bad["data"][person.email] = name
    value = json.dumps(bad).encode()
    await publish_raw(producer, stack, value, key=bad_id.encode(), headers=_signed(stack, value))
    forged_id = new_request_id()
    forged = json.dumps(request_event("erasure", {"email": person.email}, request_id=forged_id))
    await publish_raw(producer, stack, forged.encode(), key=person.email.encode(), headers=[])
    secrets_sent += [pnr, "198112189876"]

    assert (await completed(temporal, rid)).status.value == "completed"
    await dead_letters_for(dlq, {bad_id.encode()})
    logs = _readable_logs(stack)
    assert "event dead-lettered" in logs and rid in logs, "the logs were written"
    leaked = [s for s in secrets_sent if s in logs]
    assert not leaked, f"personal data in the logs: {len(leaked)} values"
