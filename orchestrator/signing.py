"""HMAC-SHA256 signatures on request events: an unsigned or forged event never starts a workflow.

Headers: `dsr-key-id: <id>` and `dsr-signature: v1=<lowercase hex HMAC-SHA256 of the raw value>`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from orchestrator.redaction import scrub

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
_KEY_ID_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")


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
        raise SignatureError(
            "unknown_key", f"unknown signing key id {_shown(key_id, list(key_ring))}"
        )
    if not hmac.compare_digest(sign(value, secret).encode(), signature_raw.strip()):
        raise SignatureError("bad_signature", "signature does not match the event value")
    return key_id


def _shown(key_id: str, configured: list[str]) -> str:
    """The producer's key id as the refusal may quote it: the detail is kept in clear (a DLQ
    header, `dsr dlq list`), and the header is the producer's free text, so an id is shown only
    when it is a sibling of a configured one (the portal signing with a key not rotated in
    here yet: `portal-2027` beside `portal-2026`, the same first four characters or more), has
    a key id's shape and nothing in it reads as personal data; otherwise only its length. The
    scrubber alone let `siv.soderberg1` through: an e-mail's local part is no pattern."""
    sibling = any(key_id[:4] == known[:4] and len(known) >= 4 for known in configured)
    if sibling and _KEY_ID_SHAPE.fullmatch(key_id) and scrub(key_id) == key_id:
        return repr(key_id)
    return f"(not shown: {len(key_id)} characters that could be personal data)"


def is_signed(
    value: bytes | None, headers: Mapping[str, bytes], key_ring: Mapping[str, bytes], max_bytes: int
) -> bool:
    """Whether `verify` holds for a record of at most `max_bytes` (a refusal from anywhere, or
    a record only reported on: what it names is believed only if the portal signed it). Never
    raises: headers that break the check are no signature."""
    if value is None or len(value) > max_bytes:
        return False
    try:
        verify(value, headers, key_ring)
    except Exception:  # unsigned, forged, or headers that break the check: not believed
        return False
    return True
