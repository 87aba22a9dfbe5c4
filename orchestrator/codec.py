"""AES-256-GCM payload codec: Temporal's history never holds personal data in the clear.

Every payload (workflow input, activity arguments and results, failure messages via the
failure converter) is encrypted with the active key; the key id travels in the metadata so
old histories stay readable after rotation (keep retired keys in the ring until they drain).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

__all__ = ["ENCODING", "AesGcmCodec", "PayloadKeyMissing", "encrypted_data_converter"]

ENCODING = b"binary/encrypted-aes256gcm"
_NONCE_BYTES = 12


class PayloadKeyMissing(Exception):
    """A payload was encrypted with a key id this process does not have."""


class AesGcmCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes], active_key_id: str | None = None) -> None:
        if not keys:
            raise ValueError("at least one payload key is required (DSR_PAYLOAD_KEYS)")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active_key_id or next(iter(keys))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._active]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            # The key id is authenticated as associated data: swapping it breaks decryption.
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), self._active.encode())
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, "encryption-key-id": self._active.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get("encryption-key-id", b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadKeyMissing(f"no payload key with id {key_id!r}")
            nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            decoded.append(Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode())))
        return decoded


def encrypted_data_converter(keys: dict[str, bytes]) -> DataConverter:
    """Pydantic-aware converter whose payloads and failure messages are encrypted."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=AesGcmCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
