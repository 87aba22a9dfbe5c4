"""From raw Kafka record to a trusted, validated request — or a dead-letter reason.

Order matters: size first (never parse a huge value), then the signature over the raw bytes
(never act on content we cannot attribute), then JSON, the CloudEvents envelope, the type, the
data schema, and finally that the Kafka key is the request id (partitioning depends on it).
Error details carry field paths and error types, never the offending values: the DLQ is read by
operators and the values may be personal data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from orchestrator.signing import SignatureError, verify
from schemas.events import REQUESTED_TYPE, CloudEvent, DeadLetterReason, DsrRequestedEvent

__all__ = ["Rejected", "headers_dict", "safe_validation_detail", "validate_request"]

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Messages for these error types only ever name expected values or patterns, not the input.
_MESSAGE_SAFE = {"missing", "extra_forbidden", "literal_error", "enum", "string_pattern_mismatch"}


class Rejected(Exception):
    """The event cannot be accepted; it goes to the dead-letter topic with `reason` and `detail`."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def headers_dict(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, bytes]:
    return {k: (v or b"") for k, v in (headers or [])}


def safe_validation_detail(error: ValidationError, limit: int = 10) -> str:
    """`loc: type (message)` per error, without input values; quoted fragments removed."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:limit]:
        loc = ".".join(str(p) for p in item["loc"]) or "<root>"
        message = item["msg"]
        if item["type"] not in _MESSAGE_SAFE:
            message = _QUOTED.sub("…", message)
        parts.append(f"{loc}: {item['type']} ({message})")
    if error.error_count() > limit:
        parts.append(f"... and {error.error_count() - limit} more")
    return "; ".join(parts)


def _error_position(exc: UnicodeDecodeError | json.JSONDecodeError) -> int:
    return exc.start if isinstance(exc, UnicodeDecodeError) else exc.pos


def validate_request(
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes],
    signing_keys: Mapping[str, bytes],
    max_bytes: int,
) -> DsrRequestedEvent:
    if value is None:
        raise Rejected(DeadLetterReason.NOT_JSON, "empty value (tombstone)")
    if len(value) > max_bytes:
        raise Rejected(DeadLetterReason.OVERSIZE, f"{len(value)} bytes > limit {max_bytes}")
    try:
        verify(value, headers, signing_keys)
    except SignatureError as exc:
        raise Rejected(DeadLetterReason(exc.reason), exc.detail) from None
    try:
        document = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(
            DeadLetterReason.NOT_JSON,
            f"invalid JSON at position {_error_position(exc)}",
        ) from None
    if not isinstance(document, dict):
        raise Rejected(DeadLetterReason.NOT_CLOUDEVENT, "value is not a JSON object")
    try:
        envelope = CloudEvent[dict[str, object]].model_validate(document)
    except ValidationError as exc:
        raise Rejected(DeadLetterReason.NOT_CLOUDEVENT, safe_validation_detail(exc)) from None
    if envelope.type != REQUESTED_TYPE:
        raise Rejected(
            DeadLetterReason.UNSUPPORTED_TYPE,
            f"type must be {REQUESTED_TYPE!r}",
        )
    try:
        event = DsrRequestedEvent.model_validate(document)
    except ValidationError as exc:
        raise Rejected(DeadLetterReason.SCHEMA_VIOLATION, safe_validation_detail(exc)) from None
    if key is not None and key.decode("utf-8", "replace") != event.data.request_id:
        raise Rejected(DeadLetterReason.KEY_MISMATCH, "Kafka key must equal data.request_id")
    return event
