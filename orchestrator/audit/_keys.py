"""The Ed25519 key pair that signs audit checkpoints.

The private key is `DSR_AUDIT_SIGNING_KEY` (base64 of the 32-byte seed) and lives only in the
orchestrator worker's environment, never in the database: whoever can rewrite the database
cannot forge a checkpoint. Auditors hold only the public key (`DSR_AUDIT_PUBLIC_KEY`, base64 of
the 32 raw bytes), or derive it from the seed where they hold that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from orchestrator.settings import Settings

__all__ = [
    "AuditKeyError",
    "generate_signing_key",
    "key_id",
    "public_key_b64",
    "public_key_from_settings",
    "signing_key_from_settings",
]


class AuditKeyError(ValueError):
    """The audit key setting is missing or malformed (the message never contains the key)."""


def _decode(value: str, setting: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AuditKeyError(f"{setting} is not valid base64") from None
    if len(raw) != 32:
        raise AuditKeyError(f"{setting} must be base64 of exactly 32 bytes")
    return raw


def generate_signing_key() -> str:
    """A fresh seed, base64: the value for DSR_AUDIT_SIGNING_KEY."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key_from_settings(settings: Settings) -> Ed25519PrivateKey | None:
    """The private key, or None when this process is not configured to sign."""
    seed = settings.audit_signing_key.get_secret_value()
    if not seed.strip():
        return None
    return Ed25519PrivateKey.from_private_bytes(_decode(seed, "DSR_AUDIT_SIGNING_KEY"))


def public_key_from_settings(settings: Settings) -> Ed25519PublicKey | None:
    """`DSR_AUDIT_PUBLIC_KEY` if set (an auditor's machine), else derived from the seed."""
    if settings.audit_public_key.strip():
        raw = _decode(settings.audit_public_key, "DSR_AUDIT_PUBLIC_KEY")
        return Ed25519PublicKey.from_public_bytes(raw)
    private = signing_key_from_settings(settings)
    return None if private is None else private.public_key()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_b64(public: Ed25519PublicKey) -> str:
    """The value for DSR_AUDIT_PUBLIC_KEY."""
    return base64.b64encode(_raw(public)).decode()


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name for a public key (first 16 hex digits of its SHA-256), so a key
    rotation shows in the checkpoints instead of failing as a bad signature."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]
