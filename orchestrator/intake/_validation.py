"""From raw Kafka record to a trusted, validated request — or a dead-letter reason.

Order matters: size first (never parse a huge value), then the signature over the raw bytes
(never act on content we cannot attribute), then that header names are text, then JSON, the
CloudEvents envelope, the type, the data schema, the clock (a legal deadline cannot start in
the future, nor before the GDPR applied), and finally that the Kafka key is the request id
(partitioning depends on it).

A name twice in one object (`"kind": "access", …, "kind": "erasure"`) is refused: the
signature vouches for the bytes, not for which of the two a reader believes (orjson keeps the
last, other parsers the first), and a legal request must mean one thing to every reader.

Parsing is bounded: orjson refuses nesting deeper than 1024 levels with an ordinary
JSONDecodeError (the stdlib parser recursed until RecursionError, which crashed the agent).
Error details carry field paths and error types, never the offending values: the DLQ headers
are read by operators and the values may be personal data.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import orjson
from pydantic import ValidationError

from orchestrator.signing import SignatureError, verify
from policy.gdpr import GDPR_APPLIES_AT, GDPR_APPLIES_FROM
from schemas.events import REQUESTED_TYPE, CloudEvent, DeadLetterReason, DsrRequestedEvent

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "MAX_DEPTH",
    "Rejected",
    "check_header_names",
    "headers_dict",
    "safe_validation_detail",
    "validate_request",
]

DEFAULT_CLOCK_SKEW = timedelta(seconds=300)
# The contract nests at most 5 levels (event → data → rectification → changes → change).
MAX_DEPTH = 12

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Messages for these error types only ever name expected values or patterns, not the input.
_MESSAGE_SAFE = {"missing", "extra_forbidden", "literal_error", "enum", "string_pattern_mismatch"}
# A location part is shown only if it looks like a field name of ours: an unknown key chosen by
# the producer ("anna@example.se": 1) would otherwise carry its text into the detail header.
_SAFE_LOC_PART = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class Rejected(Exception):
    """The event cannot be accepted; it goes to the dead-letter topic with `reason` and `detail`.

    `signed`: the refusal came after the event's signature was verified, so what the record
    says (its request id, its key) is the portal's. Of a record refused before (oversize, no
    signature, an unknown key, a forged one) nothing is believed: its dead letter takes no
    request id from it (orchestrator.dlq._sealing)."""

    def __init__(self, reason: DeadLetterReason, detail: str, *, signed: bool = False) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.signed = signed


def headers_dict(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, bytes]:
    return {k: (v or b"") for k, v in (headers or [])}


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_header_names(headers: Iterable[str]) -> None:
    """Every header name is text: Kafka's protocol makes a header name a UTF-8 string, and the
    CloudEvents binding maps attributes to headers by name. A name that is not UTF-8 reaches us
    only through the intake's lenient decoding (`_transport`: undecodable bytes as lone
    surrogates) and breaks the envelope; the detail counts such names, never shows them."""
    bad = sum(1 for name in headers if not _utf8(name))
    if bad:
        raise Rejected(
            DeadLetterReason.NOT_CLOUDEVENT,
            f"headers: not_utf8 ({bad} header name(s) not valid UTF-8; not shown)",
        )


def _loc_part(part: object) -> str:
    if isinstance(part, int):
        return str(part)
    text = str(part)
    return text if _SAFE_LOC_PART.match(text) else "<key>"


def safe_validation_detail(error: ValidationError, limit: int = 10) -> str:
    """`loc: type (message)` per error, without input values; quoted fragments removed."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:limit]:
        loc = ".".join(_loc_part(p) for p in item["loc"]) or "<root>"
        message = item["msg"]
        if item["type"] not in _MESSAGE_SAFE:
            message = _QUOTED.sub("…", message)
        parts.append(f"{loc}: {item['type']} ({message})")
    if error.error_count() > limit:
        parts.append(f"... and {error.error_count() - limit} more")
    return "; ".join(parts)


Path = tuple[object, ...]


def _nodes(document: object) -> Iterator[tuple[object, Path]]:
    """Every value of a parsed document with its path, parents first, iteratively (no
    recursion, whatever the depth). A caller that raises stops the walk where it is."""
    stack: list[tuple[object, Path]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        yield node, path
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))


def _rejected_at(path: Path, problem: str, *, parts: int, member: str | None = None) -> Rejected:
    """A structural problem in the value at `path` (at its `member`, if named): inside `data`
    it breaks the request's schema, elsewhere the envelope; the location shown with
    field-shaped names only."""
    shown = path if member is None else (*path, member)
    where = ".".join(_loc_part(p) for p in shown[:parts])
    inside_data = bool(path) and path[0] == "data"
    reason = DeadLetterReason.SCHEMA_VIOLATION if inside_data else DeadLetterReason.NOT_CLOUDEVENT
    return Rejected(reason, f"{where}: {problem}")


def _check_depth(document: dict[str, object]) -> None:
    """No value nested deeper than the contract ever nests. A 1000-deep list where a string
    belongs would otherwise reach pydantic and Python's enum, whose error messages recurse
    through its repr."""
    for _node, path in _nodes(document):
        if len(path) + 1 > MAX_DEPTH:  # the document itself is level 1
            problem = f"too_deep (nested deeper than {MAX_DEPTH} levels)"
            raise _rejected_at(path, problem, parts=6)


class _ObjectWithRepeatedNames(dict[str, object]):
    """A parsed JSON object in which a name occurred more than once (the names in `repeated`)."""

    repeated: list[str]


def _object_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    counts = Counter(name for name, _ in pairs)  # linear: an object may hold 40,000 names
    if len(counts) == len(pairs):
        return dict(pairs)
    flagged = _ObjectWithRepeatedNames(pairs)
    flagged.repeated = sorted(name for name, seen in counts.items() if seen > 1)
    return flagged


def _check_unique_names(value: bytes) -> None:
    """No object names a member twice. Run after the depth check: the stdlib parser recurses,
    and the document is known to be shallow by now (a second parse of at most the size limit)."""
    for node, path in _nodes(json.loads(value, object_pairs_hook=_object_pairs)):
        if isinstance(node, _ObjectWithRepeatedNames):
            problem = "duplicate_key (a name given twice in one object)"
            raise _rejected_at(path, problem, parts=7, member=node.repeated[0])


def _check_clock(event: DsrRequestedEvent, arrived_at: datetime, skew: timedelta) -> None:
    """Times the portal reports may not lie after the event reached us (plus clock skew), and
    the legal clock cannot start before the GDPR applied (the receipt day, Stockholm time)."""
    latest = arrived_at + skew
    times = {
        "data.received_at": event.data.received_at,
        "data.verification.verified_at": event.data.verification.verified_at,
    }
    problems = [
        f"{field}: in_future (later than arrival plus the clock-skew allowance)"
        for field, moment in times.items()
        if moment is not None and moment > latest
    ]
    if event.data.received_at < GDPR_APPLIES_AT:
        problems.append(
            f"data.received_at: before_gdpr (a receipt day before {GDPR_APPLIES_FROM}, "
            "when the GDPR began to apply)"
        )
    if problems:
        raise Rejected(DeadLetterReason.SCHEMA_VIOLATION, "; ".join(problems))


def validate_request(
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes],
    signing_keys: Mapping[str, bytes],
    max_bytes: int,
    *,
    arrived_at: datetime | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    key_required: bool = True,
) -> DsrRequestedEvent:
    """The validated event, or `Rejected`. Pure: no I/O, safe to call on any bytes.

    `arrived_at` is when the record reached the broker (default: now); a producer-set
    timestamp later than now is not believed. A record without a key breaks the contract as a
    wrong key does: its partition is chosen at random, so two copies of one request would race
    on two consumers instead of queueing on one. `key_required=False` is for whoever sets the
    key from the event itself (`dsr dlq redrive`).
    """
    if value is None:
        raise Rejected(DeadLetterReason.NOT_JSON, "empty value (tombstone)")
    if len(value) > max_bytes:
        raise Rejected(DeadLetterReason.OVERSIZE, f"{len(value)} bytes > limit {max_bytes}")
    try:
        verify(value, headers, signing_keys)
    except SignatureError as exc:
        raise Rejected(DeadLetterReason(exc.reason), exc.detail) from None
    try:
        return _validate_signed(
            key,
            value,
            headers,
            arrived_at=arrived_at,
            clock_skew=clock_skew,
            key_required=key_required,
        )
    except Rejected as rejected:
        rejected.signed = True
        raise


def _validate_signed(
    key: bytes | None,
    value: bytes,
    headers: Mapping[str, bytes],
    *,
    arrived_at: datetime | None,
    clock_skew: timedelta,
    key_required: bool,
) -> DsrRequestedEvent:
    """`validate_request` past the signature: the portal's own bytes, checked as the contract."""
    check_header_names(headers)  # after the signature: a forged record is refused as forged
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Rejected(
            DeadLetterReason.NOT_JSON,
            f"invalid JSON at position {exc.pos} ({_QUOTED.sub('…', exc.msg)[:80]})",
        ) from None
    if not isinstance(document, dict):
        raise Rejected(DeadLetterReason.NOT_CLOUDEVENT, "value is not a JSON object")
    _check_depth(document)
    _check_unique_names(value)
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
    now = datetime.now(UTC)
    _check_clock(event, min(arrived_at, now) if arrived_at else now, clock_skew)
    if key is None:
        if key_required:
            raise Rejected(DeadLetterReason.KEY_MISMATCH, "no Kafka key: must be data.request_id")
    elif key.decode("utf-8", "replace") != event.data.request_id:
        raise Rejected(DeadLetterReason.KEY_MISMATCH, "Kafka key must equal data.request_id")
    return event
