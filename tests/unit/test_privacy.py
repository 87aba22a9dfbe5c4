"""The orchestrator must not itself become a leak: logs are redacted, payloads encrypted."""

from __future__ import annotations

import ast
import base64
import json
import logging
import os
from pathlib import Path

import pytest
import structlog
from temporalio.api.common.v1 import Payload

from orchestrator.codec import AesGcmCodec, PayloadKeyMissing, encrypted_data_converter
from orchestrator.logging import configure_logging, redact_personal_data, scrub
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef


def test_scrub_masks_emails_identity_numbers_and_phones() -> None:
    text = "mail anna.o@exempel.se pnr 198112189876 or 811218-9876 org 556036-0793 tel +46701234567"
    cleaned = scrub(text)
    for secret in (
        "anna.o@exempel.se",
        "198112189876",
        "811218-9876",
        "556036-0793",
        "+46701234567",
    ):
        assert secret not in cleaned


def test_log_lines_from_structlog_and_stdlib_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    structlog.get_logger("t").info(
        "hello",
        email="anna@exempel.se",
        name="Anna Svensson",
        request_id="req-1",
        note="pnr 198112189876",
    )
    logging.getLogger("some.library").warning("failed for anna@exempel.se")
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines[0]["request_id"] == "req-1"
    assert "Anna Svensson" not in err and "anna@exempel.se" not in err and "198112189876" not in err


def test_identifiers_never_render_their_values() -> None:
    ref = SubjectRef(
        identifiers=(Identifier(type=IdentifierType.EMAIL, value="anna@exempel.se"),), name="Anna"
    )
    assert "anna@exempel.se" not in repr(ref) + str(ref) + str(ref.identifiers[0])


def _key() -> bytes:
    return os.urandom(32)


async def test_codec_round_trip_and_ciphertext_hides_content() -> None:
    codec = AesGcmCodec({"k1": _key()})
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"anna@exempel.se"}')
    (sealed,) = await codec.encode([plain])
    assert b"anna@exempel.se" not in sealed.SerializeToString()
    assert sealed.metadata["encryption-key-id"] == b"k1"
    (opened,) = await codec.decode([sealed])
    assert opened == plain


async def test_codec_rotation_reads_old_keys_and_refuses_unknown_ones() -> None:
    old, new = _key(), _key()
    (sealed,) = await AesGcmCodec({"old": old}).encode([Payload(data=b"x")])
    rotated = AesGcmCodec({"new": new, "old": old})
    assert (await rotated.decode([sealed]))[0].data == b"x"
    with pytest.raises(PayloadKeyMissing):
        await AesGcmCodec({"new": new}).decode([sealed])


async def test_codec_detects_tampering() -> None:
    codec = AesGcmCodec({"k1": _key()})
    (sealed,) = await codec.encode([Payload(data=b"x")])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(Exception):  # noqa: B017, PT011 - cryptography's InvalidTag
        await codec.decode([sealed])


async def test_converter_encrypts_pydantic_models() -> None:
    converter = encrypted_data_converter({"k1": base64.b64decode(base64.b64encode(_key()))})
    ref = SubjectRef(identifiers=(Identifier(type=IdentifierType.EMAIL, value="anna@exempel.se"),))
    (payload,) = await converter.encode([ref])
    assert b"anna@exempel.se" not in payload.SerializeToString()
    (back,) = await converter.decode([payload], [SubjectRef])
    assert back == ref


# ── names and addresses in free text ──────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        ("lookup failed for Ali Hassan", ["Ali", "Hassan"]),
        ("Anna-Karin Söderström", ["Anna-Karin", "Söderström"]),
        ("kunden Britt-Inger Åkerblad hittades inte", ["Britt-Inger", "Åkerblad"]),
        ("no match: Zlatko Ibrahimović, Mäkelä-Virtanen", ["Zlatko", "Ibrahimović", "Virtanen"]),
        ("row for Fatima Al-Sayed (Ahmed Hussein's)", ["Fatima", "Al-Sayed", "Ahmed", "Hussein"]),
        ("ANNA SVENSSON; Svensson, Per; Per Holm", ["ANNA", "SVENSSON", "Svensson", "Per", "Holm"]),
        ("Xyzzy Lindqvist and Anna Qwertz", ["Xyzzy", "Lindqvist", "Qwertz"]),
        ("lookup failed for Zorblat Quennick", ["Zorblat", "Quennick"]),
        ("Carl von Linné; Nguyen Van Thanh", ["Carl", "Linné", "Nguyen", "Thanh"]),
        ("user anna_svensson, home of ali.hassan", ["anna_svensson", "ali.hassan"]),
        ("Storgatan 12B, 411 38 Göteborg", ["Storgatan 12", "411 38", "Göteborg"]),
        ("bor på Drottning Kristinas väg 3 lgh 1102", ["Kristinas väg 3", "1102"]),
        ("Sankt Eriksgatan 5, S:t Göransgatan 7 C", ["Eriksgatan 5", "Göransgatan 7"]),
        ("flyttade från Ringvägen till Stureplan 4", ["Ringvägen", "Stureplan 4"]),
        ("GET /api/subscribers?query=Anna%20Svensson", ["Anna", "Svensson"]),
        # Found by the fuzz: surname first with two ambiguous names, two phone numbers side by
        # side, a town followed by a name, a genitive of a surname not in the list.
        ("billing Berg, Saga; Holm, Per", ["Berg", "Saga", "Holm", "Per"]),
        ("ring 072/272 09 02 072/272 09 02 or +46700000000 0046 70 000 00 00", ["272", "0046"]),
        ("111 10 Stockholm Anna-Karin Berg", ["Stockholm", "Anna-Karin", "Berg"]),
        ("handled Mira Holmsjös", ["Mira", "Holmsjö"]),
    ],
)
def test_names_and_addresses_in_free_text_are_masked(text: str, secrets: list[str]) -> None:
    cleaned = scrub(text)
    assert not [s for s in secrets if s in cleaned], cleaned


def _logged_messages() -> list[str]:
    """The first argument of every log call in the processes' code: our log vocabulary."""
    root = Path(__file__).resolve().parents[2]
    messages: list[str] = []
    for package in ("orchestrator", "connectors", "workflows", "policy", "devstack"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"debug", "info", "warning", "error", "exception"}
                    and "log" in ast.unparse(node.func.value).lower()
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    messages.append(node.args[0].value)
    return messages


def test_every_log_message_of_the_code_is_left_alone() -> None:
    messages = _logged_messages()
    assert len(messages) > 40  # the scan finds them (it must be able to fail)
    for message in messages:
        formatted = message.replace("%d", "3").replace("%s", "billing")
        assert scrub(message) == message
        assert scrub(formatted) == formatted


# What our processes and their libraries write, as it reaches the processor.
_REAL_LINES = [
    "workers started",
    "event dead-lettered",
    "temporal unavailable, retrying",
    "DSR_SUBJECT_HASH_KEY is not set: deriving it from the payload keys",
    "billing.locate: billing locate failed: HTTP 503 (ServiceUnavailable), attempt 2 of 5",
    "support locate: 2 users, 5 tickets, ambiguous=False",
    "Beginning worker shutdown, will wait 0:00:00 before cancelling activities",
    "Failed activation on workflow DsrWorkflowV2 with ID dsr-req-2026-1234567890 and run ID "
    "01a23279-5b78-7cc9-b747-123456789012",
    "Completing activity as failed ({'activity_id': '1', 'activity_type': 'locate', 'attempt': "
    "3, 'namespace': 'default', 'task_queue': 'dsr-connector-billing', 'workflow_id': "
    "'dsr-req-1234567890', 'workflow_run_id': '01a23279-5b78-7cc9-b747-123456789012', "
    "'workflow_type': 'DsrWorkflowV2'})",
    "Unable connect to node with id 1: [Errno 111] Connect call failed ('127.0.0.1', 9092)",
    "Heartbeat failed for group dsr-intake because it is rebalancing",
    "OffsetCommit failed for group dsr-intake due to group error ([Error 25] "
    "UnknownMemberIdError: dsr-intake), will rejoin",
    "Topic dsr.requests.v1 not found in cluster metadata",
    "[^Worker]: Ready",
    "Timer Monitor.sampler woke up too late, with a drift of +0.25 runtime=0.0001",
    "Uvicorn running on http://127.0.0.1:8400 (Press CTRL+C to quit)",
    "Started server process [12345]",
    "Waiting for application startup.",
    "Application startup complete.",
    '127.0.0.1:54321 - "GET /api/requests?status=open&sort=due_at HTTP/1.1" 200',
    "Context impl SQLiteImpl.",
    "Will assume non-transactional DDL.",
    "Running upgrade 0004 -> 0005, request system outcomes",
    'HTTP Request: GET http://127.0.0.1:8302/api/subscribers?page=1 "HTTP/1.1 200 OK"',
    "Max retries exceeded with url: /api/v2/users/search.json (Caused by NewConnectionError)",
    "Task was destroyed but it is pending!",
    'Traceback (most recent call last):\n  File "/work/main/orchestrator/intake/_handler.py", '
    "line 146, in handle\n    return await self._handle(record, where)\nKeyError: 'data'",
    "Per request: 3 systems, plan 2 of 5, timezone Europe/Stockholm",
    "Internetstiftelsen (.se, .nu) registry notified: Art. 19",
    "months Jan, Feb, Mar; Will, Max and Jan, Maj are not names",
    "WorkerID=temporal-system@127.0.0.1:44301 WorkerID=x",
]


@pytest.mark.parametrize("line", _REAL_LINES)
def test_real_log_lines_are_unchanged(line: str) -> None:
    assert scrub(line) == line


# ── fields that carry validated ids ───────────────────────────────────────────────────────


def test_id_fields_keep_validated_ids_and_mask_personal_ones() -> None:
    event = {
        "event": "event accepted",
        "request_id": "req-2026-1234567890",
        "workflow_id": "dsr-req-5551234567-deferred-erasure",
        "parent_run_id": "dsr-req-0701234567",
        "run_id": "01a23279-5b78-7cc9-b747-198112189876",
        "key": "req-811218-9876",
        "parent_workflow_id": "dsr-198112189876",
        "event_id": "198112189876",
        "exclude_request_id": "811218-9876",
        "temporal_activity": {"workflow_id": "dsr-req-1234567890.packaging", "attempt": 2},
    }
    out = redact_personal_data(None, "info", dict(event))
    # Run ids are Temporal's own UUIDs, never made from a request's data: kept whole.
    for kept in ("request_id", "workflow_id", "run_id"):
        assert out[kept] == event[kept]
    # An id carrying a personnummer in a written form is no valid request id (the intake refuses
    # it), so it gets no exemption: the number is masked.
    assert "9876" not in out["key"], out["key"]
    # ...nor one carrying a mobile number.
    assert "0701234567" not in str(out), out
    assert out["temporal_activity"] == event["temporal_activity"]
    assert out["parent_workflow_id"] == "dsr-[id-number]"
    assert out["event_id"] == out["exclude_request_id"] == "[id-number]"


def test_ids_written_in_text_keep_their_digits_when_valid() -> None:
    text = (
        "request_id=req-1234567890 workflow_id='dsr-req-5551234567' key=198112189876 "
        "other=req-0701234567"
    )
    assert scrub(text).startswith(
        "request_id=req-1234567890 workflow_id='dsr-req-5551234567' key=[id-number] "
    )
    assert "0701234567" not in scrub(text)


def test_workflow_id_templates_are_the_ones_the_code_builds() -> None:
    from orchestrator.redaction._ids import WORKFLOW_TEMPLATES
    from schemas.workflow import workflow_id_for
    from workflows.follow_up import follow_up_workflow_id
    from workflows.packaging import expiry_workflow_id

    for build in (workflow_id_for, follow_up_workflow_id, expiry_workflow_id):
        prefix, _, suffix = build("MARKER").partition("MARKER")
        assert (prefix, suffix) in WORKFLOW_TEMPLATES, build.__name__
