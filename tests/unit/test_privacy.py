"""The orchestrator must not itself become a leak: logs are redacted, payloads encrypted."""

from __future__ import annotations

import base64
import json
import logging
import os

import pytest
import structlog
from temporalio.api.common.v1 import Payload

from orchestrator.codec import AesGcmCodec, PayloadKeyMissing, encrypted_data_converter
from orchestrator.logging import configure_logging, scrub
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
