"""What the newsletter connector's modules share: constants, helpers, and finding the
subject's subscribers, tracking and blocklist entries through the listmonk API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from connectors.base import (
    AmbiguousSubject,
    Connector,
)
from connectors.newsletter._documents import ApiSubscriber, parse
from connectors.newsletter._hashing import blocklist_hash
from connectors.newsletter._http import ListmonkClient, decode
from connectors.newsletter._matching import (
    SEARCHABLE,
    Match,
    ambiguity,
    normalise,
    search_query,
)
from schemas.identifiers import IdentifierType
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.newsletter")

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

SUPPRESSION_LEGAL_BASIS = "Berättigat intresse: spärr mot återimport (GDPR art. 17.3, art. 21.3)"
RECTIFIABLE_FIELDS = ("name", "email")
# The attribute that records a restriction made by this connector, and what it suspended.
RESTRICTION_MARK = "dsr_restricted"

CATEGORY_NAMES = ("subscriber", "subscriptions", "campaign_views", "link_clicks", "blocklist")
DELETED_NAMES = CATEGORY_NAMES[:4]
NOT_FOUND = frozenset({404})
EVIDENCE_CUSTOMERS = 20


async def gather(*steps: Awaitable[T]) -> list[T]:
    """Run the steps concurrently; the first failure is raised once all have finished (none is
    left running, and none of their exceptions goes unretrieved)."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if not isinstance(r, BaseException)]


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Two different steps concurrently, with `gather`'s handling of failures."""
    one, two = await asyncio.gather(first, second, return_exceptions=True)
    for result in (one, two):
        if isinstance(result, BaseException):
            raise result
    return one, two  # type: ignore[return-value]  # both checked not to be exceptions above


class NewsletterBase(Connector):
    """Matching and lookups through the API; the operations are in the connector and mixins."""

    _client: ListmonkClient
    _salt: str
    _page_size: int

    # --- locate ---------------------------------------------------------------------------

    async def _match(self, subject: SubjectRef, operation: str) -> Match:
        searches: list[tuple[IdentifierType, str]] = []
        for identifier in subject.identifiers:
            if identifier.type in SEARCHABLE:
                value = normalise(identifier.type, identifier.value)
                if value is not None and (identifier.type, value) not in searches:
                    searches.append((identifier.type, value))
        found = await gather(*(self._search(kind, value, operation) for kind, value in searches))
        match = Match()
        for (kind, _), subscribers in zip(searches, found, strict=True):
            for subscriber in subscribers:
                match.subscribers[subscriber.id] = subscriber
            match.hits.append((kind, [s.id for s in subscribers]))
        match.ambiguity = ambiguity(subject, match)
        return match

    async def _search(
        self, kind: IdentifierType, value: str, operation: str
    ) -> list[ApiSubscriber]:
        return [
            parse(ApiSubscriber, document, operation)
            async for document in self._client.pages(
                "/api/subscribers",
                operation=operation,
                page_size=self._page_size,
                params={"query": search_query(kind, value)},
            )
        ]

    async def _tracking_totals(self, subscriber_id: int, operation: str) -> tuple[int, int]:
        views, clicks = await gather(
            self._client.total(
                f"/api/subscribers/{subscriber_id}/campaign_views",
                operation=operation,
                missing_ok=True,
            ),
            self._client.total(
                f"/api/subscribers/{subscriber_id}/link_clicks",
                operation=operation,
                missing_ok=True,
            ),
        )
        return views, clicks

    async def _blocklist_entries(
        self, emails: Sequence[str], operation: str
    ) -> dict[str, dict[str, Any] | None]:
        """Each address's blocklist entry (None: not blocklisted), by its salted hash."""
        entries = await gather(*(self._blocklist_entry(email, operation) for email in emails))
        return dict(zip(emails, entries, strict=True))

    async def _blocklist_entry(self, email: str, operation: str) -> dict[str, Any] | None:
        response = await self._client.request(
            "GET",
            f"/api/blocklist/hashes/{blocklist_hash(email, self._salt)}",
            operation=operation,
            expected=NOT_FOUND,
        )
        if response.status_code == 404:
            return None
        document = decode(response, operation)
        entry = document.get("data") if isinstance(document, dict) else None
        return entry if isinstance(entry, dict) else {}

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        if match.ambiguity:
            raise AmbiguousSubject(f"newsletter refuses to {operation}: {match.ambiguity}")

    async def _put_subscriber(
        self, subscriber_id: int, update: dict[str, Any], operation: str
    ) -> int:
        """PUT the fields; the HTTP status (200, or 400/404/409, which the caller handles)."""
        if not update:
            return 200
        response = await self._client.request(
            "PUT",
            f"/api/subscribers/{subscriber_id}",
            operation=operation,
            json=update,
            expected=frozenset({400, 404, 409}),
        )
        return 200 if response.status_code < 300 else response.status_code
