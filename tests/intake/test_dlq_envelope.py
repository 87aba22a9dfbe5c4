"""The sealed DLQ value: unreadable without the key, bound to its position, dead after expiry."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.dlq import (
    DeadLetter,
    DlqExpired,
    DlqKeyMissing,
    DlqUnreadable,
    SourcePosition,
    build_dead_letter,
    open_sealed,
)
from schemas.events import DeadLetterReason

KEYS = {"k1": os.urandom(32), "k0": os.urandom(32)}
HERE = SourcePosition(topic="dsr.requests.v1", partition=3, offset=17)
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SECRET = b'{"data":{"subject":{"email":"anna.lindqvist@exempel.se"}}}'


def _letter(value: bytes | None = SECRET, max_value_bytes: int = 1024) -> DeadLetter:
    out = build_dead_letter(
        position=HERE,
        key=b"req-0001abcd",
        value=value,
        headers=[("dsr-key-id", b"portal-1")],
        reason=DeadLetterReason.BAD_SIGNATURE,
        detail="signature does not match the event value",
        keys=KEYS,
        retention=timedelta(days=30),
        max_value_bytes=max_value_bytes,
        now=NOW,
    )
    return DeadLetter.from_record(0, 5, out.key, out.value, out.headers)


def test_round_trip_and_nothing_readable_without_the_key() -> None:
    letter = _letter()
    assert b"anna" not in letter.sealed
    assert letter.reason == "bad_signature" and letter.source == HERE
    assert letter.request_id == "req-0001abcd" and letter.key_id == "k1"
    assert letter.expires_at == NOW + timedelta(days=30)
    original = open_sealed(letter.sealed, keys=KEYS, position=HERE, now=NOW)
    assert original.value == SECRET and original.headers == [("dsr-key-id", b"portal-1")]
    with pytest.raises(DlqKeyMissing):
        open_sealed(letter.sealed, keys={"k0": KEYS["k0"]}, position=HERE, now=NOW)


def test_expired_letters_are_refused_before_decryption() -> None:
    letter = _letter()
    later = NOW + timedelta(days=30)
    assert letter.expired(later)
    with pytest.raises(DlqExpired):
        open_sealed(letter.sealed, keys=KEYS, position=HERE, now=later)


def test_expiry_and_position_cannot_be_altered() -> None:
    letter = _letter()
    stretched = letter.sealed.replace(b"2026-12-31", b"2099-12-31")
    assert stretched != letter.sealed
    with pytest.raises(DlqUnreadable):
        open_sealed(stretched, keys=KEYS, position=HERE, now=NOW)
    elsewhere = SourcePosition(topic="dsr.requests.v1", partition=3, offset=18)
    with pytest.raises(DlqUnreadable):
        open_sealed(letter.sealed, keys=KEYS, position=elsewhere, now=NOW)
    with pytest.raises(DlqUnreadable):
        open_sealed(b"plain bytes", keys=KEYS, position=HERE, now=NOW)


def test_tombstones_and_oversize_values() -> None:
    assert open_sealed(_letter(None).sealed, keys=KEYS, position=HERE, now=NOW).value is None
    cut = open_sealed(_letter(b"x" * 5000).sealed, keys=KEYS, position=HERE, now=NOW)
    assert cut.truncated and cut.value == b"x" * 1024


@pytest.mark.parametrize(
    "key",
    [
        b"198112189876",  # a personnummer
        b"811218-9876",  # the same, short form (a hyphen is in the id alphabet)
        b"46701234567",  # a phone number without the plus
        b"portal_198112189876",  # an id that embeds one
        b"req-\xc3\xa5\xc3\xa4\xc3\xb6-0001",  # not ASCII
    ],
)
def test_a_key_shaped_like_personal_data_is_kept_only_inside_the_seal(key: bytes) -> None:
    """The letter's Kafka key, its `request` column and everything keyed by it (the data key
    it is sealed under, the audit entries of reading or shredding it) are kept in clear: a key
    the contract would refuse as a request id must not become any of them."""
    out = build_dead_letter(
        position=HERE,
        key=key,
        value=SECRET,
        headers=[],
        reason=DeadLetterReason.KEY_MISMATCH,
        detail="Kafka key does not match data.request_id",
        keys=KEYS,
        retention=timedelta(days=30),
        max_value_bytes=1024,
        now=NOW,
    )
    assert out.key is None
    letter = DeadLetter.from_record(0, 5, out.key, out.value, out.headers)
    assert letter.request_id is None
    assert key not in b"".join(v for _, v in out.headers)
    original = open_sealed(letter.sealed, keys=KEYS, position=HERE, now=NOW)
    assert original.key == key  # the original is still all there, sealed


def test_a_request_id_key_is_kept_as_the_letters_key() -> None:
    assert _letter().request_id == "req-0001abcd"
