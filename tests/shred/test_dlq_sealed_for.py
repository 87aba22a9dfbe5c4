"""A dead letter is sealed for the request its value names (`data.request_id`), whatever its
Kafka key, and `dsr shred verify` counts every such copy: an event of request R published with
no key, or under another request's id, holds R's subject and used to be sealed with the master
key (or the other id's key) and missed by verify, while `dsr dlq show` still opened it after
`dsr shred now R`. Real SQLite key store, the real sealer, opener and verdict (the topic read
replaced by the letters built here)."""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

import orchestrator.dlq._verdict as verdict
from orchestrator.datakeys import DataKeyMissing, DataKeyRing
from orchestrator.dlq import (
    DeadLetter,
    DeadLetterSealer,
    DlqShredded,
    SourcePosition,
    build_dead_letter,
    open_sealed,
    opening_keys,
)
from orchestrator.settings import Settings
from orchestrator.store._keys import KeyStore
from schemas.events import DeadLetterReason

MASTER = {"m1": os.urandom(32)}
HERE = SourcePosition(topic="dsr.requests.v1", partition=0, offset=11)
R = "req-2026-abcdef01"
OTHER = "req-2026-other001"
PERSONNUMMER = "198112189876"


def sealed_for_request(sealed: bytes) -> str | None:
    """The envelope's clear `rid` (MAGIC | u16 length | JSON, orchestrator.dlq._envelope)."""
    if not sealed.startswith(b"dsr-dlq-v1\x00"):
        return None
    start = len(b"dsr-dlq-v1\x00") + 2
    (length,) = struct.unpack(">H", sealed[start - 2 : start])
    rid = orjson.loads(sealed[start : start + length]).get("rid")
    return rid if isinstance(rid, str) else None


def _event(request_id: object = R) -> bytes:
    return orjson.dumps(
        {"data": {"request_id": request_id, "subject": {"email": "anna.lindqvist@exempel.se"}}}
    )


class _Stack:
    def __init__(self, url: str, ring: DataKeyRing) -> None:
        self.settings = Settings(
            payload_keys=f"m1:{base64.b64encode(MASTER['m1']).decode()}",
            database_url=url,
            signing_keys="portal:secret",
        )
        self.ring = ring
        self.sealer = DeadLetterSealer(MASTER, ring)
        self.letters: list[DeadLetter] = []

    async def letter(
        self,
        key: bytes | None,
        value: bytes | None,
        max_value_bytes: int = 4096,
        *,
        signed: bool = True,  # a key mismatch is found after the signature was verified
    ) -> DeadLetter:
        out = await self.sealer.build(
            position=HERE,
            key=key,
            value=value,
            headers=[],
            reason=DeadLetterReason.KEY_MISMATCH,
            detail="Kafka key must equal data.request_id",
            retention=timedelta(days=30),
            max_value_bytes=max_value_bytes,
            signed=signed,
        )
        letter = DeadLetter.from_record(0, len(self.letters), out.key, out.value, out.headers)
        self.letters.append(letter)
        return letter

    async def show(self, letter: DeadLetter) -> bytes | None:
        """What `dsr dlq show` reads."""
        keys = await opening_keys(self.settings, letter.sealed)
        return open_sealed(letter.sealed, keys=keys, position=HERE, now=datetime.now(UTC)).value

    async def verify(self, request_id: str) -> dict[str, object]:
        return (await verdict.dead_letter_copies(self.settings, request_id)).as_dict()


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[_Stack]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    async with await KeyStore.open(url) as key_store:
        made = _Stack(url, DataKeyRing(MASTER, store=key_store, cache_ttl=0))

        async def read(settings: Settings, wait_seconds: float = 60.0) -> list[DeadLetter]:
            return made.letters

        monkeypatch.setattr(verdict, "read_dead_letters", read)
        yield made


async def test_copies_without_the_request_id_as_key_are_sealed_for_it_and_verified(
    stack: _Stack,
) -> None:
    await stack.ring.keys_for(R, create=True)
    await stack.ring.keys_for(OTHER, create=True)
    keyed = await stack.letter(R.encode(), _event())
    unkeyed = await stack.letter(None, _event())
    misfiled = await stack.letter(OTHER.encode(), _event())  # another request's id as key
    assert (await stack.verify(R))["decryptable"] == 3

    assert await stack.ring.destroy(R)  # dsr shred now R
    for letter in (keyed, unkeyed, misfiled):
        with pytest.raises(DlqShredded):
            await stack.show(letter)
    assert await stack.verify(R) == {
        "checked": True,
        "copies": 3,
        "under_request_key": 3,
        "undecryptable": 3,
        "expired": 0,
        "decryptable": 0,
        "error": None,
    }
    for letter in (keyed, unkeyed, misfiled):
        assert letter.key_id == f"dk:{R}" and sealed_for_request(letter.sealed) == R
    assert unkeyed.request_id is None and misfiled.request_id == OTHER  # clear keys unchanged
    # Published under OTHER's id: a copy of OTHER's as well (what its key says), shredded by R.
    assert (await stack.verify(OTHER))["copies"] == 1


async def test_a_copy_under_the_master_key_is_still_found_and_reported_readable(
    stack: _Stack,
) -> None:
    """R already shredded: nothing may be sealed under its destroyed key, so the master key
    seals it, and verify must say the copy is readable (until its expiry), not miss it."""
    await stack.ring.keys_for(R, create=True)
    await stack.ring.destroy(R)
    letter = await stack.letter(None, _event())
    assert await stack.show(letter) == _event()
    result = await stack.verify(R)
    assert result["copies"] == 1 and result["decryptable"] == 1
    assert letter.key_id == "m1" and letter.request_id is None
    assert sealed_for_request(letter.sealed) == R


async def test_without_a_usable_id_in_the_value_the_key_decides(stack: _Stack) -> None:
    deep = b'{"data":{"request_id":"%s","x":' % R.encode() + b"[" * 20 + b"]" * 20 + b"}}"
    twice = b'{"data":{"request_id":"%s","request_id":"%s"}}' % (OTHER.encode(), R.encode())
    for value in (
        b"\xff\xfe not json",
        b"[" * 100_000,  # orjson refuses it; nothing may recurse
        b'"just a string"',
        b'{"data": []}',
        b'{"data": {"request_id": 42}}',
        deep,  # deeper than the intake reads
        twice,  # two ids: whose data is it?
        _event(PERSONNUMMER),  # never a personal number as a key id or in clear
        _event("req-x"),  # too short for a request id
        None,
    ):
        letter = await stack.letter(OTHER.encode(), value, max_value_bytes=1 << 20)
        assert letter.key_id == f"dk:{OTHER}" and sealed_for_request(letter.sealed) == OTHER
        letter = await stack.letter(None, value, max_value_bytes=1 << 20)
        assert letter.key_id == "m1" and sealed_for_request(letter.sealed) is None
        assert PERSONNUMMER.encode() not in letter.sealed
    # Over the size limit (the letter keeps only a cut of it): not parsed, the key decides.
    letter = await stack.letter(None, _event(), max_value_bytes=len(_event()) - 1)
    assert letter.key_id == "m1" and sealed_for_request(letter.sealed) is None


async def test_letters_sealed_before_the_request_was_recorded_still_open_and_count(
    stack: _Stack,
) -> None:
    """The envelope only gained a clear `rid`: old letters (none) read and verify as before,
    and a new one opens with the same reader."""
    await stack.ring.keys_for(R, create=True)
    old = build_dead_letter(
        position=HERE,
        key=R.encode(),
        value=_event(),
        headers=[],
        reason=DeadLetterReason.SCHEMA_VIOLATION,
        detail="data.kind: enum",
        keys=MASTER,
        retention=timedelta(days=30),
        max_value_bytes=4096,
    )
    letter = DeadLetter.from_record(0, 0, old.key, old.value, old.headers)
    stack.letters.append(letter)
    assert sealed_for_request(letter.sealed) is None
    assert sealed_for_request(b"not an envelope") is None
    assert await stack.show(letter) == _event()
    new = await stack.letter(None, _event())
    assert (
        open_sealed(
            new.sealed,
            keys={"dk:" + R: (await stack.ring.keys_for(R)).dlq},
            position=HERE,
            now=datetime.now(UTC),
        ).value
        == _event()
    )
    result = await stack.verify(R)
    assert result["copies"] == 2 and result["decryptable"] == 2


async def test_a_forged_re_send_of_a_real_request_dies_with_it(stack: _Stack) -> None:
    """An unsigned copy of a request the store knows (a tampered re-send: it holds that
    request's subject) is sealed with that request's key and named by it, so `dsr shred
    verify` counts it and shredding the request makes it unreadable; nothing is created."""
    await stack.ring.keys_for(R, create=True)
    letter = await stack.letter(R.encode(), _event(), signed=False)
    assert letter.key_id == f"dk:{R}" and sealed_for_request(letter.sealed) == R
    assert letter.request_id == R
    assert (await stack.verify(R))["decryptable"] == 1
    assert await stack.ring.destroy(R)
    with pytest.raises(DlqShredded):
        await stack.show(letter)


async def test_an_unsigned_record_names_no_request_and_makes_no_key(stack: _Stack) -> None:
    """A forged or unsigned record's request id and Kafka key are its producer's free text
    (`malin_johansson17_yahoo_se` has an id's shape): its letter is sealed with the DLQ key,
    keeps no clear key and no `rid`, and no data key is made for what it names."""
    forged = "malin_johansson17_yahoo_se"
    letter = await stack.letter(forged.encode(), _event(forged), signed=False)
    assert letter.request_id is None and letter.key_id == "m1"
    assert sealed_for_request(letter.sealed) is None
    assert forged.encode() not in letter.sealed
    with pytest.raises(DataKeyMissing):  # nothing was made for it
        await stack.ring.keys_for(forged)
    assert await stack.show(letter) == _event(forged)  # the copy itself is intact
