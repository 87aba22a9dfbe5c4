"""Whether a request id was ever taken: the store's word, which outlives Temporal's.

The intake starts a request's workflow with REJECT_DUPLICATE, so a second event with the same
request id is a no-op — but only while Temporal still holds the first workflow. Temporal
deletes closed workflows after the namespace's retention (24 hours on the dev server, days on
a cluster); after that the same id would start the request again: a second access package of
a closed request, a second erasure, a completion record and status events written over the
first. Such an event comes back in ordinary ways — the portal re-sending, a re-driven dead
letter, a consumer group whose offsets expired reading the topic from the start.

The store keeps every request's summary for as long as its records are kept (the first
bookkeeping step of the workflow writes it), so the intake asks it before starting: a request
id the store knows is a duplicate, whatever Temporal has forgotten. One indexed read per
accepted event; the store is opened on first use, like the key store.
"""

from __future__ import annotations

import asyncio

from orchestrator.settings import Settings
from orchestrator.store import Store

__all__ = ["RequestLedger"]


class RequestLedger:
    """The store's requests table, asked one question."""

    def __init__(
        self, database_url: str = "", *, pool_size: int = 2, store: Store | None = None
    ) -> None:
        """Opens its own store from `database_url` on first use, or asks an open `store`
        the caller owns (and closes)."""
        self._database_url = database_url
        self._pool_size = pool_size
        self._store = store
        self._owned = store is None  # opened here, closed here
        self._opening = asyncio.Lock()

    @classmethod
    def over(cls, store: Store) -> RequestLedger:
        """The ledger of a store the caller already has open (and closes itself)."""
        return cls(store=store)

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLedger | None:
        """The ledger of the configured store; None without one (as the payload codec and
        the dead-letter sealer decide: `database_url` set, from the environment or by hand)."""
        if "database_url" not in settings.model_fields_set:
            return None
        return cls(settings.database_url)

    async def knows(self, request_id: str) -> bool:
        """Whether the store holds a request with this id (any status)."""
        return await (await self._opened()).has_request(request_id)

    async def _opened(self) -> Store:
        async with self._opening:
            if self._store is None:
                # Migrates if the intake comes first, as the key store does (serialised).
                self._store = await Store.open(self._database_url, pool_size=self._pool_size)
            return self._store

    async def aclose(self) -> None:
        if self._store is not None and self._owned:
            await self._store.close()
            self._store = None
