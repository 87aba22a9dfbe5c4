"""Dead letters naming a request are sealed with that request's data key and shredded with it;
all others keep the DLQ key. Real SQLite key store, the real sealer and opener."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.datakeys import DataKeyRing
from orchestrator.dlq import (
    DeadLetter,
    DeadLetterSealer,
    DlqKeyMissing,
    DlqShredded,
    SourcePosition,
    open_sealed,
    opening_keys,
)
from orchestrator.settings import Settings
from orchestrator.store._keys import KeyStore
from schemas.events import DeadLetterReason

MASTER = {"m1": os.urandom(32)}
HERE = SourcePosition(topic="dsr.requests.v1", partition=0, offset=7)
SECRET = b'{"data":{"subject":{"email":"anna.lindqvist@exempel.se"}}}'


def _settings(url: str) -> Settings:
    return Settings(
        payload_keys=f"m1:{base64.b64encode(MASTER['m1']).decode()}",
        database_url=url,
        signing_keys="portal:secret",
    )


async def _letter(sealer: DeadLetterSealer, key: bytes | None) -> DeadLetter:
    out = await sealer.build(
        position=HERE,
        key=key,
        value=SECRET,
        headers=[("dsr-key-id", b"portal")],
        reason=DeadLetterReason.SCHEMA_VIOLATION,
        detail="data.kind: enum",
        retention=timedelta(days=30),
        max_value_bytes=1024,
        signed=True,  # refused after its signature was verified: its request id is believed
    )
    assert SECRET not in out.value
    return DeadLetter.from_record(0, 1, out.key, out.value, out.headers)


async def _open(settings: Settings, letter: DeadLetter) -> bytes | None:
    keys = await opening_keys(settings, letter.sealed)
    return open_sealed(letter.sealed, keys=keys, position=HERE, now=datetime.now(UTC)).value


async def test_a_dead_letter_naming_a_request_is_shredded_with_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    settings = _settings(url)
    async with await KeyStore.open(url) as key_store:
        ring = DataKeyRing(MASTER, store=key_store, cache_ttl=0)
        letter = await _letter(DeadLetterSealer(MASTER, ring), b"req-dlq-000001")
        assert letter.key_id == "dk:req-dlq-000001" and letter.request_id == "req-dlq-000001"
        with pytest.raises(DlqKeyMissing):  # the DLQ key alone does not open it
            open_sealed(letter.sealed, keys=MASTER, position=HERE, now=datetime.now(UTC))
        assert await _open(settings, letter) == SECRET  # `dsr dlq show` reads it

        # The key was created for the request: its workflow, started later, uses the same one.
        created = await key_store.get_data_key("req-dlq-000001")
        assert created is not None and not created.destroyed

        assert await ring.destroy("req-dlq-000001")
        with pytest.raises(DlqShredded):
            await _open(settings, letter)


async def test_other_dead_letters_keep_the_dlq_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    settings = _settings(url)
    async with await KeyStore.open(url) as key_store:
        ring = DataKeyRing(MASTER, store=key_store, cache_ttl=0)
        sealer = DeadLetterSealer(MASTER, ring)
        for key in (None, b"anna.lindqvist@exempel.se"):
            letter = await _letter(sealer, key)
            assert letter.key_id == "m1" and letter.request_id is None
            assert await _open(settings, letter) == SECRET

        # A request already shredded: nothing is sealed under a destroyed key; the DLQ key it
        # is, and the copy expires with the DLQ's retention.
        await ring.keys_for("req-dlq-000002", create=True)
        await ring.destroy("req-dlq-000002")
        letter = await _letter(sealer, b"req-dlq-000002")
        assert letter.key_id == "m1"
        assert await _open(settings, letter) == SECRET


async def test_a_store_outage_never_stops_a_dead_letter() -> None:
    unreachable = DataKeyRing(MASTER, "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    letter = await _letter(DeadLetterSealer(MASTER, unreachable), b"req-dlq-000003")
    assert letter.key_id == "m1"
    original = open_sealed(letter.sealed, keys=MASTER, position=HERE, now=datetime.now(UTC))
    assert original.value == SECRET
