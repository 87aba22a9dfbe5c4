"""The audit hash chain: canonical JSON of an entry, and SHA-256 over the previous hash + it.

    hash = sha256( prev_hash (64 hex chars, ASCII) || canonical_json(entry) ).hexdigest()

`entry` is the object {request_id, action, actor, at, details, dedupe_key} with `at` as ISO 8601
in UTC with microseconds; canonical JSON has sorted keys, no whitespace, UTF-8, no NaN/Infinity.
The first entry links to `GENESIS_HASH`. The sequence number is not hashed (PostgreSQL sequences
may skip numbers); order is proven by each entry naming its predecessor's hash instead.
An auditor can recompute the chain with nothing but `hashlib` and `json`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["GENESIS_HASH", "canonical_json", "chain_hash", "entry_document", "format_timestamp"]

GENESIS_HASH = "0" * 64


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds: the one textual form a timestamp is hashed in."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (the store needs aware datetimes)")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(document: object) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_document(
    *,
    request_id: str,
    action: str,
    actor: str,
    at: datetime,
    details: Mapping[str, object],
    dedupe_key: str,
) -> dict[str, object]:
    return {
        "request_id": request_id,
        "action": action,
        "actor": actor,
        "at": format_timestamp(at),
        "details": dict(details),
        "dedupe_key": dedupe_key,
    }


def chain_hash(prev_hash: str, document: Mapping[str, object]) -> str:
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(canonical_json(document))
    return digest.hexdigest()
