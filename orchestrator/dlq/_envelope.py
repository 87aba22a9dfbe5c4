"""The sealed DLQ value: the refused record's key, value and headers, AES-256-GCM encrypted.

A refused event can be a forged erasure request naming a real customer, so the DLQ topic must
hold nothing readable. The clear part names only the key id and the expiry; both, the envelope
version and the record's source position are authenticated as associated data, so moving a
sealed value to another position or stretching its expiry breaks decryption.

The key id is a DSR_PAYLOAD_KEYS id, or `dk:<request id>` for the key derived from that
request's data key (orchestrator.dlq._sealing): the caller hands `open_sealed` the keys by id.

Layout: MAGIC | u16 length | JSON {kid, expires_at} | 12-byte nonce | ciphertext, where the
plaintext is u32 length | JSON {key, headers, value_none, truncated} | raw value bytes.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Mapping
from datetime import datetime

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

__all__ = [
    "MAGIC",
    "DlqExpired",
    "DlqKeyMissing",
    "DlqUnreadable",
    "Original",
    "SourcePosition",
    "open_sealed",
    "seal",
    "sealed_key_id",
]

MAGIC = b"dsr-dlq-v1\x00"
_NONCE_BYTES = 12


class DlqUnreadable(Exception):
    """The sealed value is damaged, tampered with, or not a DLQ envelope."""


class DlqKeyMissing(DlqUnreadable):
    """Sealed with a key id this process does not have (retired or destroyed)."""


class DlqExpired(DlqUnreadable):
    """Past its retention: by policy nobody may read it any more."""


class SourcePosition(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int


class Original(BaseModel):
    """What the producer sent, exactly (value cut at the size limit for oversize records)."""

    model_config = ConfigDict(frozen=True)

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    truncated: bool = False


def _aad(key_id: str, expires_at: str, position: SourcePosition) -> bytes:
    return (
        f"{MAGIC.decode().rstrip(chr(0))}|{key_id}|{expires_at}|"
        f"{position.topic}|{position.partition}|{position.offset}"
    ).encode()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def seal(
    original: Original,
    *,
    keys: Mapping[str, bytes],
    key_id: str,
    expires_at: datetime,
    position: SourcePosition,
) -> bytes:
    expiry = expires_at.isoformat()
    meta = orjson.dumps(
        {
            "key": _b64(original.key),
            "headers": [[name, _b64(value)] for name, value in original.headers],
            "value_none": original.value is None,
            "truncated": original.truncated,
        }
    )
    plaintext = struct.pack(">I", len(meta)) + meta + (original.value or b"")
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(keys[key_id]).encrypt(nonce, plaintext, _aad(key_id, expiry, position))
    clear = orjson.dumps({"kid": key_id, "expires_at": expiry})
    return MAGIC + struct.pack(">H", len(clear)) + clear + nonce + sealed


def _clear_part(blob: bytes) -> tuple[dict[str, str], int]:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 2:
        raise DlqUnreadable("not a sealed DLQ value")
    start = len(MAGIC) + 2
    (length,) = struct.unpack(">H", blob[len(MAGIC) : start])
    try:
        clear = orjson.loads(blob[start : start + length])
        return {"kid": str(clear["kid"]), "expires_at": str(clear["expires_at"])}, start + length
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise DlqUnreadable("damaged DLQ envelope") from None


def sealed_key_id(blob: bytes) -> str:
    return _clear_part(blob)[0]["kid"]


def open_sealed(
    blob: bytes,
    *,
    keys: Mapping[str, bytes],
    position: SourcePosition,
    now: datetime,
) -> Original:
    """Decrypt, refusing anything past its expiry (checked before any decryption)."""
    clear, at = _clear_part(blob)
    try:
        expires_at = datetime.fromisoformat(clear["expires_at"])
    except ValueError:
        raise DlqUnreadable("damaged DLQ envelope") from None
    if now >= expires_at:
        raise DlqExpired(f"expired at {expires_at.isoformat()}")
    key = keys.get(clear["kid"])
    if key is None:
        raise DlqKeyMissing(f"no key with id {clear['kid']!r}")
    nonce, sealed = blob[at : at + _NONCE_BYTES], blob[at + _NONCE_BYTES :]
    try:
        plaintext = AESGCM(key).decrypt(
            nonce, sealed, _aad(clear["kid"], clear["expires_at"], position)
        )
    except InvalidTag:
        raise DlqUnreadable("tampered with, or not sealed for this position") from None
    (length,) = struct.unpack(">I", plaintext[:4])
    meta = orjson.loads(plaintext[4 : 4 + length])
    value = None if meta["value_none"] else plaintext[4 + length :]

    def raw(text: str | None) -> bytes | None:
        return None if text is None else base64.b64decode(text)

    return Original(
        key=raw(meta["key"]),
        value=value,
        headers=[(name, raw(encoded) or b"") for name, encoded in meta["headers"]],
        truncated=bool(meta["truncated"]),
    )
