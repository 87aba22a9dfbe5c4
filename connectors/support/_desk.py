"""The help desk's objects, as the operations need them: users found by an identifier, the
deleted users not yet purged, a user's tickets and calls page by page, one ticket's
conversation, and the few writes an erasure or a rectification makes. Each call names its
endpoint by a fixed label, for logs and errors.

Work on many items (the comments of a page of tickets, the deletion of a page of calls) runs
`concurrency` requests at a time, never more: the desk rate-limits, and a page is at most 100.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from connectors.support._http import Json, SupportApi
from connectors.support._identity import SEARCH_FIELDS
from connectors.support._models import (
    ApiCall,
    ApiComment,
    ApiOrganization,
    ApiRating,
    ApiTicket,
    ApiUser,
    parse,
    parse_all,
)
from schemas.identifiers import IdentifierType

__all__ = ["Desk"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class Desk:
    """The API of one help desk, for one kind of operation (named in errors and logs)."""

    def __init__(self, api: SupportApi, concurrency: int, operation: str) -> None:
        self.api = api
        self.concurrency = concurrency
        self.operation = operation

    async def map(self, work: Callable[[_T], Awaitable[_R]], items: Sequence[_T]) -> list[_R]:
        """`work` on every item, at most `concurrency` at a time, results in item order. The
        first failure cancels the rest and is raised as it was."""
        limit = asyncio.Semaphore(self.concurrency)

        async def run(item: _T) -> _R:
            async with limit:
                return await work(item)

        tasks = [asyncio.ensure_future(run(item)) for item in items]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _pages(
        self,
        path: str,
        key: str,
        endpoint: str,
        params: Mapping[str, str | int] | None = None,
        *,
        missing_ok: bool = False,
    ) -> AsyncIterator[list[Json]]:
        return self.api.pages(
            path,
            key,
            endpoint=endpoint,
            operation=self.operation,
            params=params,
            missing_ok=missing_ok,
        )

    # --- reading --------------------------------------------------------------------------

    async def search(self, kind: IdentifierType, value: str) -> list[ApiUser]:
        """End users whose e-mail, external id or phone is `value` (agents are staff)."""
        users: list[ApiUser] = []
        query = {"query": f"{SEARCH_FIELDS[kind]}:{value}"}
        async for page in self._pages("/api/v2/users/search", "users", "users.search", query):
            users += [u for u in parse_all(ApiUser, page, "users.search") if u.role == "end-user"]
        return users

    async def deleted_users(self) -> AsyncIterator[list[ApiUser]]:
        """The desk's deleted end users, a page at a time (`GET /deleted_users`). Zendesk's list
        cannot be searched or filtered: it is every deleted user, the soft-deleted ones with
        their data and the purged ones emptied (no e-mail or phone), so whoever looks for a
        person pages through it and compares."""
        async for page in self._pages(
            "/api/v2/deleted_users", "deleted_users", "deleted_users.list"
        ):
            yield [
                _deleted(u)
                for u in parse_all(ApiUser, page, "deleted_users.list")
                if u.role == "end-user"
            ]

    async def deleted_user(self, user_id: int) -> ApiUser | None:
        """A user deleted but not yet purged, as it is now; None once purged (or never
        deleted)."""
        body = await self.api.call(
            "GET",
            f"/api/v2/deleted_users/{user_id}",
            endpoint="deleted_users.show",
            operation=self.operation,
            missing_ok=True,
        )
        if body is None:
            return None
        return _deleted(parse(ApiUser, body.get("deleted_user"), "deleted_users.show"))

    async def organization(self, user: ApiUser) -> ApiOrganization | None:
        if user.organization_id is None:
            return None
        body = await self.api.call(
            "GET",
            f"/api/v2/organizations/{user.organization_id}",
            endpoint="organizations.show",
            operation=self.operation,
            missing_ok=True,
        )
        if body is None:
            return None
        return parse(ApiOrganization, body.get("organization"), "organizations.show")

    async def requested(self, user: ApiUser) -> AsyncIterator[list[ApiTicket]]:
        """The tickets `user` requested, a page at a time."""
        async for page in self._pages(
            f"/api/v2/users/{user.id}/tickets/requested",
            "tickets",
            "users.tickets_requested",
            missing_ok=True,
        ):
            yield parse_all(ApiTicket, page, "users.tickets_requested")

    async def filed(
        self, numbers: Sequence[str], requesters: set[int]
    ) -> AsyncIterator[list[ApiTicket]]:
        """Tickets filed under the customer numbers (their `external_id`), a page at a time,
        except those `requesters` asked for (they come with their requester)."""
        for number in numbers:
            async for page in self._pages(
                "/api/v2/tickets", "tickets", "tickets.list", {"external_id": number}
            ):
                tickets = [
                    t
                    for t in parse_all(ApiTicket, page, "tickets.list")
                    if t.requester_id not in requesters
                ]
                if tickets:
                    yield tickets

    async def comments(self, ticket: ApiTicket) -> list[ApiComment]:
        """All comments of one ticket (one ticket's conversation fits in memory)."""
        found: list[ApiComment] = []
        async for page in self._pages(
            f"/api/v2/tickets/{ticket.id}/comments",
            "comments",
            "tickets.comments",
            missing_ok=True,
        ):
            found += parse_all(ApiComment, page, "tickets.comments")
        return found

    async def with_comments(
        self, tickets: Sequence[ApiTicket]
    ) -> list[tuple[ApiTicket, list[ApiComment]]]:
        return list(zip(tickets, await self.map(self.comments, tickets), strict=True))

    async def calls(self, user: ApiUser) -> AsyncIterator[list[ApiCall]]:
        async for page in self._pages("/api/v2/calls", "calls", "calls.list", {"user_id": user.id}):
            yield parse_all(ApiCall, page, "calls.list")

    async def ratings(self, user: ApiUser) -> AsyncIterator[list[ApiRating]]:
        async for page in self._pages(
            "/api/v2/satisfaction_ratings",
            "satisfaction_ratings",
            "satisfaction_ratings.list",
            {"user_id": user.id},
        ):
            yield parse_all(ApiRating, page, "satisfaction_ratings.list")

    async def count_calls(self, user: ApiUser) -> int:
        return sum([len(page) async for page in self.calls(user)])

    async def count_ratings(self, user: ApiUser) -> int:
        return sum([len(page) async for page in self.ratings(user)])

    # --- writing --------------------------------------------------------------------------

    async def delete(self, path: str, endpoint: str) -> bool:
        """DELETE; True if it deleted something, False if it was already gone."""
        answer = await self.api.call(
            "DELETE", path, endpoint=endpoint, operation=self.operation, missing_ok=True
        )
        return answer is not None

    async def file_ticket(self, ticket: ApiTicket, reference: str) -> None:
        """Set the ticket's `external_id`: where a kept ticket is found once its user is gone."""
        await self.api.call(
            "PUT",
            f"/api/v2/tickets/{ticket.id}",
            endpoint="tickets.update",
            operation=self.operation,
            json={"ticket": {"external_id": reference}},
        )

    async def redact(self, ticket_id: int, comment_id: int, text: str) -> ApiComment | None:
        """The desk's redaction of `text` in one comment; the comment as it is now."""
        answer = await self.api.call(
            "PUT",
            f"/api/v2/tickets/{ticket_id}/comments/{comment_id}/redact",
            endpoint="tickets.comments.redact",
            operation=self.operation,
            json={"text": text},
        )
        if not answer or "comment" not in answer:
            return None
        return parse(ApiComment, answer["comment"], "tickets.comments.redact")

    async def update_user(self, user: ApiUser, values: dict[str, str]) -> None:
        await self.api.call(
            "PUT",
            f"/api/v2/users/{user.id}",
            endpoint="users.update",
            operation=self.operation,
            json={"user": values},
        )


def _deleted(user: ApiUser) -> ApiUser:
    """A user from the `deleted_users` endpoints: inactive, whatever its body said."""
    return user if not user.active else user.model_copy(update={"active": False})
