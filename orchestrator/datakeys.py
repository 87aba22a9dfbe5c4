"""Per-request data keys: generated once, wrapped by the master key, cached, destroyable.

Envelope encryption: each request gets a random AES-256 data key; the store keeps it only
wrapped (AES-256-GCM) by the first master key of DSR_PAYLOAD_KEYS, with the request id as
associated data (a wrapped key moved to another request's row does not unwrap). Two keys are
derived from it with HKDF-SHA256, one per use, so no two kinds of ciphertext share a key:
`payload` (the Temporal codec), `package` (the archive and its parts) and `dlq` (the sealed
value of a dead letter naming the request, orchestrator.dlq). Destroying the stored key
(`destroy`) makes all three unreadable everywhere.

Cost: a process fetches and unwraps a request's key once, then serves it from an LRU cache;
entries expire after `cache_ttl` seconds so a destroyed key stops working in every process
within that bound (in practice keys are destroyed weeks after anyone last used them).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from orchestrator.settings import InvalidSettings
from orchestrator.store._keys import KeyStore, StoredDataKey

__all__ = ["DataKeyDestroyed", "DataKeyMissing", "DataKeyRing", "RequestKeys"]

_NONCE = 12


class DataKeyMissing(Exception):
    """No data key is stored for the request (or its master key is not in this process's ring)."""


class DataKeyDestroyed(DataKeyMissing):
    """The request's data key was destroyed: its data is unreadable by design (crypto-shredded)."""


def _derive(data_key: bytes, use: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"dsr/" + use).derive(
        data_key
    )


@dataclass(frozen=True)
class RequestKeys:
    """A request's derived keys, ready to use (never logged, never serialised)."""

    request_id: str
    payload: AESGCM
    package: bytes  # raw key for the streaming package cipher
    dlq: bytes  # raw AES-256 key sealing the request's dead letters


class DataKeyRing:
    """Data keys for many requests over one `KeyStore` (opened lazily on first use)."""

    def __init__(
        self,
        master_keys: dict[str, bytes],
        database_url: str | None = None,
        *,
        store: KeyStore | None = None,
        cache_ttl: float = 300.0,
        cache_size: int = 4096,
        pooled: bool = False,
        creates: bool = True,
    ) -> None:
        """`pooled=True` keeps database connections open between look-ups (half the CPU of a
        miss): only for an owner that calls `aclose()` (the worker), since an open SQLite
        connection's thread would otherwise hold up the process's exit. `creates=False`: this
        ring never makes a request's key, whatever its caller asks (`keys_for(create=True)`):
        for a DPO's tool, which only ever writes into requests that exist, so a key missing
        from its store means the tool reads another store than the worker (a shell without
        DSR_DATABASE_URL, the default ./dsr.db of its folder). A key made there would seal a
        decision the worker cannot open, and the request would fail on it."""
        if not master_keys:  # a missing setting: one line from `dsr`, never a traceback
            raise InvalidSettings("invalid setting DSR_PAYLOAD_KEYS: required (id:base64key[,…])")
        if store is None and database_url is None:
            raise ValueError("a KeyStore or a database URL is required")
        self._masters = {key_id: AESGCM(key) for key_id, key in master_keys.items()}
        self._active = next(iter(master_keys))
        self._url = database_url
        self._pooled = pooled
        self._creates = creates
        self._store = store
        self._own_store = store is None
        self._opening: asyncio.Lock | None = None
        self._ttl = cache_ttl
        self._size = cache_size
        self._cache: OrderedDict[str, tuple[float, RequestKeys]] = OrderedDict()

    async def store(self) -> KeyStore:
        if self._store is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self._store is None:
                    assert self._url is not None
                    self._store = await KeyStore.open(self._url, pooled=self._pooled)
        return self._store

    async def aclose(self) -> None:
        if self._store is not None and self._own_store:
            await self._store.close()
            self._store = None

    # -- keys ----------------------------------------------------------------------------------

    async def keys_for(self, request_id: str, *, create: bool = False) -> RequestKeys:
        """The request's keys; `create=True` makes the request's key if it has none yet."""
        cached = self._cache.get(request_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(request_id)
            return cached[1]
        store = await self.store()
        stored = await store.get_data_key(request_id)
        if stored is None:
            if not create or not self._creates:
                raise DataKeyMissing(f"no data key for request {request_id!r}")
            stored = await store.add_data_key(
                request_id, self._active, self._wrap(request_id, os.urandom(32)), datetime.now(UTC)
            )
        keys = self._unwrap(stored)
        self._cache[request_id] = (now + self._ttl, keys)
        self._cache.move_to_end(request_id)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return keys

    async def destroy(self, request_id: str) -> bool:
        """Destroy the request's key (crypto-shredding). True if this call destroyed it."""
        self._cache.pop(request_id, None)
        return await (await self.store()).destroy_data_key(request_id, datetime.now(UTC))

    async def retain(self, request_id: str, until: datetime) -> None:
        """Keep the key at least until `until` (see `KeyStore.retain_data_key`)."""
        await (await self.store()).retain_data_key(request_id, until)

    async def status(self, request_id: str) -> StoredDataKey | None:
        return await (await self.store()).get_data_key(request_id)

    def forget(self, request_id: str) -> None:
        """Drop the cached key (tests; after a destruction elsewhere)."""
        self._cache.pop(request_id, None)

    # -- wrapping ------------------------------------------------------------------------------

    def _wrap(self, request_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        aad = b"dsr-data-key:" + request_id.encode()
        return nonce + self._masters[self._active].encrypt(nonce, data_key, aad)

    def _unwrap(self, stored: StoredDataKey) -> RequestKeys:
        if stored.wrapped_key is None:
            raise DataKeyDestroyed(f"the data key of request {stored.request_id!r} was destroyed")
        master = self._masters.get(stored.master_key_id)
        if master is None:
            raise DataKeyMissing(f"master key {stored.master_key_id!r} is not in DSR_PAYLOAD_KEYS")
        wrapped = stored.wrapped_key
        aad = b"dsr-data-key:" + stored.request_id.encode()
        try:
            data_key = master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
        except InvalidTag:
            raise DataKeyMissing(
                f"the data key of request {stored.request_id!r} does not unwrap with master key "
                f"{stored.master_key_id!r} (a different key under the same id?)"
            ) from None
        return RequestKeys(
            request_id=stored.request_id,
            payload=AESGCM(_derive(data_key, b"payload")),
            package=_derive(data_key, b"package"),
            dlq=_derive(data_key, b"dlq"),
        )
