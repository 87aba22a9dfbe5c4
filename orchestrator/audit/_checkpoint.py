"""Signed checkpoints of the audit chain: what is published, and how a signature is checked.

A checkpoint names the chain's head (sequence, hash, number of entries) at one moment and, when
it is written at a request's completion, every (sequence, hash) of that request's trail. Once
published, a head cannot be taken back: a chain rewritten afterwards, even with every hash
recomputed by someone with write access to the database, no longer contains it.

Wire format (Kafka value, UTF-8 JSON)::

    {"body": {...CheckpointBody...}, "signature": "<base64 Ed25519 signature>"}

The signature is over `DOMAIN + canonical_json(body)` (sorted keys, no whitespace, as the chain
itself is hashed), computed on the body *as received*, so a verifier needs no pydantic to check
it and no serialiser round trip can change what was signed.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from orchestrator.audit._keys import key_id
from orchestrator.store._hashing import canonical_json

__all__ = [
    "DOMAIN",
    "ChainHead",
    "ChainLink",
    "CheckpointBody",
    "CheckpointKind",
    "CheckpointRejected",
    "SignedCheckpoint",
    "open_checkpoint",
    "seal_checkpoint",
]

DOMAIN = b"dsr-audit-checkpoint-v1\n"
_HEX64 = r"^[0-9a-f]{64}$"


class CheckpointKind(StrEnum):
    COMPLETION = "completion"
    PERIODIC = "periodic"


class ChainLink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence: int
    hash: str = Field(pattern=_HEX64)


class ChainHead(ChainLink):
    entries: int


class CheckpointBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    kind: CheckpointKind
    issued_at: AwareDatetime
    key_id: str
    head: ChainHead | None
    request_id: str | None = None
    trail: list[ChainLink] = Field(default_factory=list)


class SignedCheckpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    body: CheckpointBody
    signature: str

    def to_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


class CheckpointRejected(ValueError):
    """A published checkpoint that is not well-formed or whose signature does not verify."""

    def __init__(self, reason: str, *, key: str | None = None) -> None:
        self.reason = reason
        self.key = key
        super().__init__(reason)


def seal_checkpoint(
    private: Ed25519PrivateKey,
    *,
    kind: CheckpointKind,
    issued_at: datetime,
    head: ChainHead | None,
    request_id: str | None = None,
    trail: list[ChainLink] | None = None,
) -> SignedCheckpoint:
    body = CheckpointBody(
        kind=kind,
        issued_at=issued_at,
        key_id=key_id(private.public_key()),
        head=head,
        request_id=request_id,
        trail=trail or [],
    )
    signature = private.sign(DOMAIN + canonical_json(body.model_dump(mode="json")))
    return SignedCheckpoint(body=body, signature=base64.b64encode(signature).decode())


def open_checkpoint(raw: bytes, public: Ed25519PublicKey) -> SignedCheckpoint:
    """Parse and verify one published checkpoint; `CheckpointRejected` says why not."""
    try:
        document: Any = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise CheckpointRejected("not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("body"), dict):
        raise CheckpointRejected("not a checkpoint (no body)")
    body = document["body"]
    expected_key = key_id(public)
    if body.get("key_id") != expected_key:
        raise CheckpointRejected(
            f"signed with key {body.get('key_id')!r}, not {expected_key!r}",
            key=str(body.get("key_id")),
        )
    try:
        signature = base64.b64decode(str(document.get("signature", "")), validate=True)
        public.verify(signature, DOMAIN + canonical_json(body))
    except (binascii.Error, ValueError, InvalidSignature):
        raise CheckpointRejected("signature does not verify") from None
    try:
        return SignedCheckpoint.model_validate(document)
    except ValidationError as exc:
        raise CheckpointRejected(f"malformed checkpoint ({exc.error_count()} errors)") from None
