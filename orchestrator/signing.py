"""HMAC-SHA256 signatures on request events: an unsigned or forged event never starts a workflow.

Headers: `dsr-key-id: <id>` and `dsr-signature: v1=<lowercase hex HMAC-SHA256 of the raw value>`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = [
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "SignatureError",
    "sign",
    "signature_headers",
    "verify",
]

KEY_ID_HEADER = "dsr-key-id"
SIGNATURE_HEADER = "dsr-signature"


class SignatureError(Exception):
    """Why a signature was refused: `reason` is a DeadLetterReason value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def sign(value: bytes, secret: bytes) -> str:
    return "v1=" + hmac.new(secret, value, hashlib.sha256).hexdigest()


def signature_headers(value: bytes, key_id: str, secret: bytes) -> list[tuple[str, bytes]]:
    return [(KEY_ID_HEADER, key_id.encode()), (SIGNATURE_HEADER, sign(value, secret).encode())]


def verify(value: bytes, headers: Mapping[str, bytes], key_ring: Mapping[str, bytes]) -> str:
    """Return the key id that signed `value`, or raise SignatureError (constant-time compare)."""
    key_id_raw, signature_raw = headers.get(KEY_ID_HEADER), headers.get(SIGNATURE_HEADER)
    if not key_id_raw or not signature_raw:
        raise SignatureError("missing_signature", "headers dsr-key-id and dsr-signature required")
    key_id = key_id_raw.decode("utf-8", "replace")
    secret = key_ring.get(key_id)
    if secret is None:
        raise SignatureError("unknown_key", f"unknown signing key id {key_id[:64]!r}")
    if not hmac.compare_digest(sign(value, secret).encode(), signature_raw.strip()):
        raise SignatureError("bad_signature", "signature does not match the event value")
    return key_id
