"""Which key seals a dead letter: the request's own data key when the record names a request,
so its DLQ copy is crypto-shredded together with the request; else the DLQ (master) key.

A dead letter whose Kafka key has the shape of a request id (the id it is published under, and
the one `dsr dlq list` shows) is sealed with the `dlq` key derived from that request's data key
(orchestrator.datakeys), creating the data key if the request has none yet — the request that
event would have started, or will start once the event is re-driven, then uses the same key.
The key id in the envelope is `dk:<request id>`. When that request's key is destroyed (the
shred sweep, `dsr shred now`, the package expiry), the copy is unreadable, like its history.

Everything else keeps the first DSR_PAYLOAD_KEYS key and becomes unreadable at its expiry
(`DSR_DLQ_RETENTION_DAYS`) and gone with the topic's retention: records without a usable
request id, records for a request already shredded (nothing may be sealed under a destroyed
key), and records dead-lettered while the store is unreachable — a dead letter must always be
writable, so the intake never waits on the store here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from orchestrator.datakeys import DataKeyDestroyed, DataKeyMissing, DataKeyRing
from orchestrator.dlq._envelope import DlqKeyMissing, SourcePosition, sealed_key_id
from orchestrator.dlq._record import OutgoingDeadLetter, build_dead_letter, request_id_shaped
from orchestrator.logging import get_logger
from orchestrator.settings import Settings
from schemas.events import DeadLetterReason

__all__ = [
    "REQUEST_KEY_PREFIX",
    "DeadLetterSealer",
    "DlqShredded",
    "opening_keys",
    "request_of_key_id",
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


def data_key_ring(settings: Settings) -> DataKeyRing | None:
    """The store's key ring, when a store is configured (as the payload codec decides)."""
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

    async def request_key(self, key: bytes | None) -> tuple[str, bytes] | None:
        """(key id, key) sealing a record with this Kafka key, or None for the master key."""
        if self._data_keys is None or key is None or not request_id_shaped(key):
            return None
        request_id = key.decode()
        try:
            keys = await self._data_keys.keys_for(request_id, create=True)
        except DataKeyDestroyed:
            return None  # shredded already: the copy expires with the DLQ's retention
        except DataKeyMissing:
            return None  # wrapped by a master key this process lacks
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
    ) -> OutgoingDeadLetter:
        return build_dead_letter(
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
            request_key=await self.request_key(key),
        )


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
