"""What an operator does with a dead letter: read it (audited) and re-drive it.

Both refuse an expired dead letter, and both write the audit entry before anything is shown or
published: a read that cannot be recorded does not happen. One home for these actions, so the
CLI (`dsr dlq ...`) and any API route behave alike. (Not re-exported by the package: the intake
imports `orchestrator.dlq` and needs none of the store.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from orchestrator.dlq._envelope import DlqExpired, Original, open_sealed
from orchestrator.dlq._record import DeadLetter
from orchestrator.dlq._sealing import opening_keys
from orchestrator.dlq._topic import fetch_dead_letter
from orchestrator.intake._validation import Rejected, headers_dict, validate_request
from orchestrator.kafka_config import aiokafka_options
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from orchestrator.store import Store
from schemas.records import AuditAction, AuditEvent

__all__ = [
    "DeadLetterNotFound",
    "StillInvalid",
    "parse_dead_letter_id",
    "read_dead_letter",
    "redrive_dead_letter",
]

REDRIVEN_FROM_HEADER = "dsr-redriven-from"


class DeadLetterNotFound(Exception):
    """No dead letter with that id (never existed, or pruned by retention)."""


class StillInvalid(Exception):
    """The event to re-drive would be refused again; `rejected` says why."""

    def __init__(self, rejected: Rejected) -> None:
        super().__init__(f"{rejected.reason.value}: {rejected.detail}")
        self.rejected = rejected


def parse_dead_letter_id(text: str) -> tuple[int, int]:
    """`partition:offset` (as `dsr dlq list` prints it)."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError("a dead letter id is partition:offset, e.g. 0:17")
    return int(partition), int(offset)


def _audit_subject(letter: DeadLetter) -> str:
    return letter.request_id or f"dlq-{letter.partition}-{letter.offset}"


async def _open(settings: Settings, dead_letter_id: str) -> tuple[DeadLetter, Original]:
    partition, offset = parse_dead_letter_id(dead_letter_id)
    letter = await fetch_dead_letter(settings, partition, offset)
    if letter is None:
        raise DeadLetterNotFound(dead_letter_id)
    now = datetime.now(UTC)
    if letter.expired(now) or letter.source is None:
        raise DlqExpired(f"dead letter {dead_letter_id} has expired")
    # The master keys, plus the named request's own key if it sealed this one (DlqShredded
    # once that request's data key is destroyed).
    keys = await opening_keys(settings, letter.sealed)
    original = open_sealed(letter.sealed, keys=keys, position=letter.source, now=now)
    return letter, original


async def _audit(
    store: Store,
    letter: DeadLetter,
    action: AuditAction,
    actor: str,
    request_id: str | None = None,
    **details: object,
) -> None:
    await store.append_audit(
        AuditEvent(
            request_id=request_id or _audit_subject(letter),
            action=action,
            actor=actor,
            at=datetime.now(UTC),
            details={"dead_letter": letter.id, "reason": letter.reason, **details},
            dedupe_key=f"{action.value}:{uuid.uuid4()}",
        )
    )


async def read_dead_letter(
    settings: Settings, store: Store, dead_letter_id: str, actor: str
) -> tuple[DeadLetter, Original]:
    """Decrypt one dead letter for `actor`; the read is in the audit trail before it returns."""
    letter, original = await _open(settings, dead_letter_id)
    await _audit(store, letter, AuditAction.DEAD_LETTER_READ, actor)
    return letter, original


async def redrive_dead_letter(
    settings: Settings,
    store: Store,
    dead_letter_id: str,
    actor: str,
    fixed: bytes | None = None,
) -> str:
    """Publish the event again on the requests topic; returns its request id.

    Without `fixed`, the original bytes and headers go back unchanged (for records refused by a
    fault since repaired, e.g. `unprocessable`); with `fixed`, that corrected event is signed
    with this deployment's portal key, as `dsr submit` does. Either must pass validation now:
    re-driving an event that would only be dead-lettered again is refused.
    """
    letter, original = await _open(settings, dead_letter_id)
    ring = settings.signing_key_ring()
    if fixed is None:
        value, headers = original.value, list(original.headers)
    else:
        key_id, secret = next(iter(ring.items()))
        value = fixed
        headers = [(k, v) for k, v in original.headers if k not in ("dsr-key-id", "dsr-signature")]
        headers += signature_headers(value, key_id, secret)
    try:
        event = validate_request(
            None,
            value,
            headers_dict(headers),
            ring,
            settings.max_event_bytes,
            clock_skew=timedelta(seconds=settings.clock_skew_allowance),
            key_required=False,  # published below under the event's own request id
        )
    except Rejected as rejected:
        raise StillInvalid(rejected) from None
    request_id = event.data.request_id
    headers = [(k, v) for k, v in headers if k != REDRIVEN_FROM_HEADER]
    headers.append((REDRIVEN_FROM_HEADER, letter.id.encode()))
    await _audit(
        store,
        letter,
        AuditAction.DEAD_LETTER_REDRIVEN,
        actor,
        request_id=request_id,
        fixed=fixed is not None,
    )
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    try:
        await producer.start()  # inside: a failed start is stopped too (no unclosed client)
        await producer.send_and_wait(
            settings.requests_topic, key=request_id.encode(), value=value, headers=headers
        )
    finally:
        await producer.stop()
    return request_id
