"""A dead letter as the DLQ topic holds it: clear headers that explain it, a sealed value.

The clear headers carry only what an operator needs to triage without reading personal data:
the reason, a detail made of field paths and error types, where the record came from, when it
was refused and until when it may be read. The original key survives only if it has the shape
of a request id (anything else a producer put there could be personal data); the original key,
value and headers are all inside the sealed value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict

from orchestrator.dlq._envelope import MAGIC, Original, SourcePosition, seal
from schemas.events import DeadLetterReason, is_valid_request_id

__all__ = [
    "DLQ_HEADERS",
    "HEADERS_CAP",
    "KEY_CAP",
    "VALUE_CAP",
    "DeadLetter",
    "OutgoingDeadLetter",
    "build_dead_letter",
    "request_id_shaped",
]

REASON = "dsr-dlq-reason"
DETAIL = "dsr-dlq-detail"
SOURCE_TOPIC = "dsr-dlq-source-topic"
SOURCE_PARTITION = "dsr-dlq-source-partition"
SOURCE_OFFSET = "dsr-dlq-source-offset"
AT = "dsr-dlq-at"
EXPIRES_AT = "dsr-dlq-expires-at"
KEY_ID = "dsr-dlq-key-id"
ENVELOPE = "dsr-dlq-envelope"
DLQ_HEADERS = (REASON, DETAIL, SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, AT, EXPIRES_AT)
ENVELOPE_NAME = MAGIC.rstrip(b"\x00")
_DETAIL_LIMIT = 4096

# A dead letter must fit one produce request of whoever writes it — faust's
# `producer_max_request_size` (1,000,000 bytes) in the intake, aiokafka's `max_request_size`
# (1,048,576) in the reconciler — whatever the refused record held: a broker accepts records far
# larger than those (tansu took a 256 KiB value with a 700 KB header), and a letter the producer
# refuses is a record that ends nowhere. So the sealed copy is bounded as a whole: the value cut
# at `max_value_bytes` and never above `VALUE_CAP`, the key cut at `KEY_CAP` bytes, the headers
# kept in order while their sealed form (name and base64 value, as JSON) fits `HEADERS_CAP`;
# anything cut or left out flags the copy `truncated`. Worst case: 512 KiB + 4/3 x 16 KiB + 64
# KiB sealed, plus at most 5 KiB of clear headers and the envelope — about 600 KiB, some 380 KB
# under the smaller producer limit.
VALUE_CAP = 512 * 1024
KEY_CAP = 16 * 1024
HEADERS_CAP = 64 * 1024


def request_id_shaped(key: bytes | None) -> bool:
    """True when a Kafka key is safe to keep in clear (as the letter's key, its key id, a
    `dsr dlq list` column, a data-key row, an audit entry's request): the contract's own rule
    for a request id (`schemas.events.is_valid_request_id`), which also refuses an id shaped
    like a personnummer, samordningsnummer or phone number. The shape alone let a producer's
    key `198112189876` into all of those."""
    if key is None:
        return False
    try:
        text = key.decode("ascii")
    except UnicodeDecodeError:
        return False
    return is_valid_request_id(text)


def _sealed_header_size(name: str, value: bytes | None) -> int:
    """Bytes a header takes in the sealed copy: `["name","base64"],` in its JSON."""
    encoded = 4 * -(-len(value or b"") // 3)
    return len(orjson.dumps(name)) + encoded + 6


def _capped_headers(
    headers: Sequence[tuple[str, bytes]],
) -> tuple[list[tuple[str, bytes]], bool]:
    """The headers that fit `HEADERS_CAP` in the sealed copy, in order (a big one left out, the
    small ones after it kept); True if any was left out."""
    kept: list[tuple[str, bytes]] = []
    room = HEADERS_CAP
    for name, value in headers:
        size = _sealed_header_size(name, value)
        if size <= room:
            kept.append((name, value))
            room -= size
    return kept, len(kept) < len(headers)


class OutgoingDeadLetter(BaseModel):
    """What the intake sends to the DLQ topic."""

    model_config = ConfigDict(frozen=True)

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def build_dead_letter(
    *,
    position: SourcePosition,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    reason: DeadLetterReason,
    detail: str,
    keys: Mapping[str, bytes],
    retention: timedelta,
    max_value_bytes: int,
    now: datetime | None = None,
    request_key: tuple[str, bytes] | None = None,
    clear_key: bool = True,
) -> OutgoingDeadLetter:
    """Seal the record with the first of `keys`, or with `request_key` (key id, key): the key
    derived from the data key of the request it names (orchestrator.dlq._sealing). The original
    Kafka key is kept as the letter's key only with `clear_key` (a signed record's) and when it
    has a request id's shape."""
    at = now or datetime.now(UTC)
    expires_at = at + retention
    if request_key is not None:
        key_id, keys = request_key[0], {request_key[0]: request_key[1]}
    else:
        key_id = next(iter(keys))
    value_limit = min(max_value_bytes, VALUE_CAP)
    value_cut = value is not None and len(value) > value_limit
    key_cut = key is not None and len(key) > KEY_CAP
    kept_headers, headers_cut = _capped_headers(headers)
    original = Original(
        key=key[:KEY_CAP] if key is not None and key_cut else key,
        value=value[:value_limit] if value is not None and value_cut else value,
        headers=kept_headers,
        truncated=value_cut or key_cut or headers_cut,
    )
    sealed = seal(original, keys=keys, key_id=key_id, expires_at=expires_at, position=position)
    clear = [
        (REASON, reason.value.encode()),
        (DETAIL, detail.encode()[:_DETAIL_LIMIT]),
        (SOURCE_TOPIC, position.topic.encode()),
        (SOURCE_PARTITION, str(position.partition).encode()),
        (SOURCE_OFFSET, str(position.offset).encode()),
        (AT, at.isoformat().encode()),
        (EXPIRES_AT, expires_at.isoformat().encode()),
        (KEY_ID, key_id.encode()),
        (ENVELOPE, ENVELOPE_NAME),
    ]
    return OutgoingDeadLetter(
        key=key if clear_key and request_id_shaped(key) else None, value=sealed, headers=clear
    )


class DeadLetter(BaseModel):
    """One record of the DLQ topic, as `dsr dlq list` shows it (nothing personal)."""

    model_config = ConfigDict(frozen=True)

    partition: int
    offset: int
    request_id: str | None
    reason: str
    detail: str
    source: SourcePosition | None
    at: AwareDatetime | None
    expires_at: AwareDatetime | None
    key_id: str | None
    sealed: bytes

    @property
    def id(self) -> str:
        """`partition:offset` in the DLQ topic: how operators name a dead letter."""
        return f"{self.partition}:{self.offset}"

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    @classmethod
    def from_record(
        cls,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]],
    ) -> DeadLetter:
        got: Mapping[str, bytes] = {k: (v or b"") for k, v in headers}

        def text(name: str) -> str:
            return got.get(name, b"").decode("utf-8", "replace")

        def moment(name: str) -> datetime | None:
            try:
                parsed = datetime.fromisoformat(text(name))
            except ValueError:
                return None
            return parsed if parsed.tzinfo is not None else None

        source = None
        try:
            source = SourcePosition(
                topic=text(SOURCE_TOPIC),
                partition=int(text(SOURCE_PARTITION)),
                offset=int(text(SOURCE_OFFSET)),
            )
        except ValueError:
            source = None
        return cls(
            partition=partition,
            offset=offset,
            request_id=key.decode() if key is not None and request_id_shaped(key) else None,
            reason=text(REASON) or "unknown",
            detail=text(DETAIL),
            source=source,
            at=moment(AT),
            expires_at=moment(EXPIRES_AT),
            key_id=text(KEY_ID) or None,
            sealed=value or b"",
        )
