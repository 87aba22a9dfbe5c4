"""Which key seals a dead letter: the request's own data key when the record names a request,
so its DLQ copy is crypto-shredded together with the request; else the DLQ (master) key.

Of a record whose signature was not verified (`build(signed=False)`) nothing is believed: it
names a request only if the store knows that request (a tampered re-send of a real one), no
data key is made for it, and otherwise it is sealed with the DLQ key, naming none.

The request a signed record names is the one its value names (`data.request_id`), when the value
parses as JSON within the intake's own limits (the event size, `MAX_DEPTH`, no name given twice)
and that id is one the contract accepts (`schemas.events.is_valid_request_id`, which refuses a
personnummer-shaped one); else the Kafka key, if it is such an id. The value first, because it
is the value that holds the subject's data: an event of request R published with no key, or
under another request's id (both `key_mismatch`, and re-drivable, since `dsr dlq redrive` keys
the event from its own data), carries R's subject and must die with R's key. Finding the id is
a best effort that never raises: a dead letter must always be writable.

Such a record is sealed with the `dlq` key derived from that request's data key
(orchestrator.datakeys), creating the data key if the request has none yet — the request that
event would have started, or will start once the event is re-driven, then uses the same key.
The key id in the envelope is `dk:<request id>`. When that request's key is destroyed (the
shred sweep, `dsr shred now`, the package expiry), the copy is unreadable, like its history.

The request id is also written into the envelope's clear part (`rid`, beside `kid` and
`expires_at`; readers that predate it ignore it, and letters that predate it have none), also
when the master key seals the letter: `dsr shred verify` finds a request's copies by their key,
their key id or this id, so one sealed with the master key for a request already shredded, or
while the store was down, is counted (and reported readable) rather than missed. It is an id
the contract accepts, nothing personal; it is not authenticated, which only matters to someone
able to rewrite records already on the topic.

Everything else keeps the first DSR_PAYLOAD_KEYS key and becomes unreadable at its expiry
(`DSR_DLQ_RETENTION_DAYS`) and gone with the topic's retention: records without a usable
request id, records for a request already shredded (nothing may be sealed under a destroyed
key), and records dead-lettered while the store is unreachable — a dead letter must always be
writable, so the intake never waits on the store here.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import orjson

from orchestrator.datakeys import DataKeyDestroyed, DataKeyMissing, DataKeyRing
from orchestrator.dlq._envelope import MAGIC, DlqKeyMissing, SourcePosition, sealed_key_id
from orchestrator.dlq._record import OutgoingDeadLetter, build_dead_letter, request_id_shaped
from orchestrator.intake._validation import MAX_DEPTH
from orchestrator.logging import get_logger
from orchestrator.settings import Settings
from schemas.events import DeadLetterReason, is_valid_request_id

__all__ = [
    "REQUEST_KEY_PREFIX",
    "DeadLetterSealer",
    "DlqShredded",
    "opening_keys",
    "request_of_key_id",
    "request_of_value",
    "sealed_for_request",
]

log = get_logger(__name__)

REQUEST_KEY_PREFIX = "dk:"


class DlqShredded(DlqKeyMissing):
    """Sealed with the key of a request whose data key was destroyed: crypto-shredded."""


def request_of_key_id(key_id: str) -> str | None:
    """The request whose data key sealed a dead letter (`dk:<request id>`), else None."""
    if key_id.startswith(REQUEST_KEY_PREFIX):
        return key_id[len(REQUEST_KEY_PREFIX) :]
    return None


class _NameGivenTwice(ValueError):
    """An object of the value names a member twice: its request id would be ambiguous."""


def _refuse_repeated_names(pairs: list[tuple[str, object]]) -> dict[str, object]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise _NameGivenTwice
    return dict(pairs)


def _within_depth(document: object) -> bool:
    """No value nested deeper than the intake accepts (iteratively: no recursion)."""
    stack: list[tuple[object, int]] = [(document, 1)]  # the document itself is level 1
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return True


def request_of_value(value: bytes | None, max_bytes: int) -> str | None:
    """The request a refused event's value names (`data.request_id`), if the value is JSON the
    intake could have read — at most `max_bytes` (the letter then holds all of it), nested no
    deeper than its `MAX_DEPTH`, no name given twice (two ids: which one's data is it?) — and
    the id is one the contract accepts. None otherwise; never raises (see the module)."""
    if value is None or len(value) > max_bytes:
        return None
    try:
        document = orjson.loads(value)  # bounded nesting; the stdlib parser only after the check
        if not isinstance(document, dict) or not _within_depth(document):
            return None
        json.loads(value, object_pairs_hook=_refuse_repeated_names)
        data = document.get("data")
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if isinstance(request_id, str) and is_valid_request_id(request_id):
            return request_id
    except Exception:  # a best effort: whatever the bytes are, fall back to the key
        return None
    return None


def _with_sealed_for(sealed: bytes, request_id: str) -> bytes:
    """The envelope with `rid` added to its clear part (layout: orchestrator.dlq._envelope;
    the clear part is not in the associated data, so the ciphertext opens as before)."""
    start = len(MAGIC) + 2
    (length,) = struct.unpack(">H", sealed[len(MAGIC) : start])
    clear = orjson.loads(sealed[start : start + length])
    clear["rid"] = request_id
    rewritten = orjson.dumps(clear)
    return MAGIC + struct.pack(">H", len(rewritten)) + rewritten + sealed[start + length :]


def sealed_for_request(sealed: bytes) -> str | None:
    """The request a dead letter was sealed for (`rid` in the envelope's clear part; None for
    letters sealed before it was recorded, for none, or for anything damaged)."""
    start = len(MAGIC) + 2
    if not sealed.startswith(MAGIC) or len(sealed) < start:
        return None
    (length,) = struct.unpack(">H", sealed[len(MAGIC) : start])
    try:
        clear = orjson.loads(sealed[start : start + length])
    except orjson.JSONDecodeError:
        return None
    request_id = clear.get("rid") if isinstance(clear, dict) else None
    return request_id if isinstance(request_id, str) and is_valid_request_id(request_id) else None


def data_key_ring(settings: Settings) -> DataKeyRing | None:
    """The store's key ring, when DSR_DATABASE_URL is set (from the environment or by hand);
    without one, dead letters keep the DLQ key — and still record their request (`rid`), so
    `dsr shred verify` counts them."""
    if "database_url" not in settings.model_fields_set:
        return None
    return DataKeyRing(settings.payload_key_ring(), settings.database_url, cache_ttl=0)


class DeadLetterSealer:
    """Builds the intake's dead letters, each sealed with the right key (see the module)."""

    def __init__(self, master_keys: Mapping[str, bytes], data_keys: DataKeyRing | None) -> None:
        self._master_keys = master_keys
        self._data_keys = data_keys

    @classmethod
    def from_settings(cls, settings: Settings) -> DeadLetterSealer:
        return cls(settings.payload_key_ring(), data_key_ring(settings))

    def _named(self, key: bytes | None, value: bytes | None, max_value_bytes: int) -> list[str]:
        """The ids a record names, its value's first, then its Kafka key's (distinct)."""
        named = request_of_value(value, max_value_bytes)
        keyed = key.decode() if key is not None and request_id_shaped(key) else None
        return list(dict.fromkeys(c for c in (named, keyed) if c is not None))

    async def _known(self, candidates: list[str]) -> str | None:
        """The first candidate whose request the store knows (a data key made, or destroyed);
        None when none is known, or the store cannot say."""
        if self._data_keys is None:
            return None
        for candidate in candidates:
            try:
                await self._data_keys.keys_for(candidate)
            except DataKeyDestroyed:
                return candidate  # a closed request's copy: shredded already
            except DataKeyMissing:
                continue
            except Exception:  # the store is down
                return None
            return candidate
        return None

    async def request_of(
        self, key: bytes | None, value: bytes | None, max_value_bytes: int
    ) -> str | None:
        """The request a signed record is a copy of. It can name two: its value's
        `data.request_id` and its Kafka key (a forged re-send of request A under another id's
        key, or A's key over a body naming a new id). The one the store knows wins, the value's
        first; if neither is known, or the store cannot say, the value's id, then the key's.
        Either way verify finds the copy under both (`rid`, the clear key)."""
        candidates = self._named(key, value, max_value_bytes)
        if len(candidates) == 2:
            known = await self._known(candidates)
            if known is not None:
                return known
        return candidates[0] if candidates else None

    async def known_request_of(
        self, key: bytes | None, value: bytes | None, max_value_bytes: int
    ) -> str | None:
        """For an unsigned or forged record: the request it names only if that request is real
        (the store holds, or destroyed, its data key) — a tampered re-send of a real request
        still dies with it — never an id the producer made up. None when the store cannot
        say."""
        return await self._known(self._named(key, value, max_value_bytes))

    async def request_key(
        self, request_id: str | None, *, create: bool = True
    ) -> tuple[str, bytes] | None:
        """(key id, key) sealing a record of this request, or None for the master key; `create`
        makes the request's data key when it has none yet (signed records only)."""
        if self._data_keys is None or request_id is None:
            return None
        try:
            keys = await self._data_keys.keys_for(request_id, create=create)
        except DataKeyDestroyed:
            return None  # shredded already: the copy expires with the DLQ's retention
        except DataKeyMissing:
            return None  # wrapped by a master key this process lacks (or none, not created)
        except Exception as error:  # the store is down: a dead letter must still be written
            log.warning(
                "data key unavailable, dead letter sealed with the DLQ key",
                error_type=type(error).__name__,
            )
            return None
        return REQUEST_KEY_PREFIX + request_id, keys.dlq

    async def build(
        self,
        *,
        position: SourcePosition,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        reason: DeadLetterReason,
        detail: str,
        retention: timedelta,
        max_value_bytes: int,
        now: datetime | None = None,
        signed: bool = False,
    ) -> OutgoingDeadLetter:
        """`signed`: the record's signature was verified (`Rejected.signed`). Of an unsigned or
        forged record nothing is believed: its request id and Kafka key are a producer's free
        text (`malin_johansson17_yahoo_se` has an id's shape), so the letter names a request
        (its key, `rid`, a clear Kafka key) only if that request is real — a tampered re-send
        of it dies with its key — and no data key is ever made for it; any other is sealed
        with the DLQ key and expires with the DLQ's retention."""
        if signed:
            request_id = await self.request_of(key, value, max_value_bytes)
        else:
            request_id = await self.known_request_of(key, value, max_value_bytes)
        letter = build_dead_letter(
            position=position,
            key=key,
            value=value,
            headers=headers,
            reason=reason,
            detail=detail,
            keys=self._master_keys,
            retention=retention,
            max_value_bytes=max_value_bytes,
            now=now,
            request_key=await self.request_key(request_id, create=signed),
            clear_key=signed or (request_id is not None and key == request_id.encode()),
        )
        if request_id is None:
            return letter
        return letter.model_copy(update={"value": _with_sealed_for(letter.value, request_id)})


async def opening_keys(settings: Settings, sealed: bytes) -> dict[str, bytes]:
    """The keys that open this sealed value: the master keys, plus the request's `dlq` key if
    it was sealed with one. `DlqShredded` if that request's data key was destroyed."""
    keys = dict(settings.payload_key_ring())
    request_id = request_of_key_id(sealed_key_id(sealed))
    if request_id is None:
        return keys
    ring = data_key_ring(settings)
    if ring is None:
        raise DlqKeyMissing(f"sealed with request {request_id}'s data key: no store configured")
    try:
        request_keys = await ring.keys_for(request_id)
    except DataKeyDestroyed:
        raise DlqShredded(
            f"sealed with request {request_id}'s data key, which was destroyed (crypto-shredded)"
        ) from None
    except DataKeyMissing as missing:
        raise DlqKeyMissing(str(missing)) from None
    finally:
        await ring.aclose()
    keys[REQUEST_KEY_PREFIX + request_id] = request_keys.dlq
    return keys
