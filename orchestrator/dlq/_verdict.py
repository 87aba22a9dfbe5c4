"""The DLQ part of `dsr shred verify`: is any dead-letter copy of the request still readable?

Copies of a request are the dead letters published under its id (the clear Kafka key), sealed
with its data key (`dk:<request id>`), or sealed for it (`rid` in the envelope's clear part:
the request its value names, also when the master key sealed it; orchestrator.dlq._sealing).
The key alone missed an event of the request published with no key, or under another id.
Each is judged by trying to open it with what a reader would have: the master keys and the
request's key, if it still exists. An expired copy counts as unreadable (nobody may open it,
and the broker drops it with the topic's retention).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.dlq._envelope import DlqExpired, DlqUnreadable, open_sealed
from orchestrator.dlq._record import DeadLetter
from orchestrator.dlq._sealing import REQUEST_KEY_PREFIX, opening_keys, sealed_for_request
from orchestrator.dlq._topic import read_dead_letters
from orchestrator.settings import Settings

__all__ = ["DlqCopies", "dead_letter_copies"]


@dataclass
class DlqCopies:
    checked: bool = True
    copies: int = 0
    under_request_key: int = 0  # sealed with the request's data key
    undecryptable: int = 0  # cannot be opened (its key destroyed, or no key for it)
    expired: int = 0  # past the DLQ retention: refused, and dropped by the broker
    decryptable: int = 0  # would open today
    error: str | None = None  # why the topic could not be read (checked is False)

    def as_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "copies": self.copies,
            "under_request_key": self.under_request_key,
            "undecryptable": self.undecryptable,
            "expired": self.expired,
            "decryptable": self.decryptable,
            "error": self.error,
        }


def _a_copy_of(letter: DeadLetter, request_id: str) -> bool:
    """Whether the letter is the request's: by its key, its key id or the request sealed for."""
    return (
        letter.request_id == request_id
        or letter.key_id == REQUEST_KEY_PREFIX + request_id
        or sealed_for_request(letter.sealed) == request_id
    )


async def dead_letter_copies(
    settings: Settings, request_id: str, wait_seconds: float = 30.0
) -> DlqCopies:
    found = DlqCopies()
    try:
        async with asyncio.timeout(wait_seconds):
            letters = await read_dead_letters(settings, wait_seconds=wait_seconds)
    except Exception as error:  # the broker unreachable: say so, never guess
        return DlqCopies(checked=False, error=type(error).__name__)
    now = datetime.now(UTC)
    own_key = REQUEST_KEY_PREFIX + request_id
    for letter in letters:
        if not _a_copy_of(letter, request_id):
            continue
        found.copies += 1
        found.under_request_key += letter.key_id == own_key
        if letter.expired(now) or letter.source is None:
            found.expired += 1
            continue
        try:
            keys = await opening_keys(settings, letter.sealed)
            open_sealed(letter.sealed, keys=keys, position=letter.source, now=now)
        except DlqExpired:
            found.expired += 1
        except DlqUnreadable:  # DlqShredded, DlqKeyMissing, damaged
            found.undecryptable += 1
        else:
            found.decryptable += 1
    return found
