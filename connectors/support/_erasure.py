"""Erasure at the help desk: delete what may go, keep and redact what must stay.

For each user, in this order (the user last, so that a retry after a crash finds it again and
finishes the job): the recorded calls are deleted; the satisfaction ratings are counted (they go
with their tickets and with the user); every ticket not on legal hold is deleted with its
conversation; every ticket on legal hold is filed under the customer number (`external_id`)
and its comments are redacted (`_redaction`); then the user is deleted and purged.

A crash between the deletion and the purge leaves the user among the desk's deleted users,
where search no longer finds it; the match looks there too (`_matching`), so the retry finds it,
goes through the same steps (nothing is left but what the purge takes: the user and the ratings
of its kept tickets) and purges it. So does an erasure of a subject an agent has deleted. A
purge that finds the user gone (404: purged meanwhile) is done, not an error;
`deleted["user"]` counts the purges this erasure made. Zendesk shows a deleted user without its
`external_id`, so kept tickets are filed only while their user is active: for a retry, the
attempt that crashed filed them already.

Kept tickets filed under the subject's customer numbers by an earlier erasure are visited too:
redacted again (nothing changes once done, so a second erasure anonymises nothing) and deleted
if their hold has been lifted since.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from connectors.base import PermanentError
from connectors.support._desk import Desk
from connectors.support._identity import normalise
from connectors.support._models import ApiCall, ApiComment, ApiTicket, ApiUser
from connectors.support._redaction import Redactor
from schemas.identifiers import IdentifierType
from schemas.status import RetainedItem

__all__ = ["CATEGORY_NAMES", "KEPT_CATEGORIES", "Erasure"]

log = logging.getLogger("connectors.support")

CATEGORY_NAMES = (
    "user",
    "tickets",
    "comments",
    "attachments",
    "call_recordings",
    "satisfaction_ratings",
)
KEPT_CATEGORIES = ("tickets", "comments", "attachments")
_REDACTION_PASSES = 3  # a comment is checked again after redaction, at most this often
_EVIDENCE_CUSTOMERS = 20  # customer numbers named in the evidence; more are counted


@dataclass
class Erasure:
    """One erasure's work and its tally."""

    desk: Desk
    redactor: Redactor
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORY_NAMES, 0))
    redacted: int = 0
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KEPT_CATEGORIES, 0))
    customers: list[str] = field(default_factory=list)
    already_deleted: int = 0  # users found among the deleted users, only purged here

    async def erase_user(self, user: ApiUser) -> None:
        async for calls in self.desk.calls(user):

            async def delete_call(call: ApiCall) -> bool:
                return await self.desk.delete(f"/api/v2/calls/{call.id}", "calls.delete")

            self.deleted["call_recordings"] += sum(await self.desk.map(delete_call, calls))
        # Ratings go with their tickets and with the user's permanent deletion below.
        self.deleted["satisfaction_ratings"] += await self.desk.count_ratings(user)
        file_as = normalise(IdentifierType.CUSTOMER_NUMBER, user.external_id or "")
        async for tickets in self.desk.requested(user):
            await self.settle(tickets, file_as=file_as)
        if user.active:
            await self.desk.delete(f"/api/v2/users/{user.id}", "users.delete")
        else:
            self.already_deleted += 1
        if await self.desk.delete(f"/api/v2/deleted_users/{user.id}", "deleted_users.delete"):
            self.deleted["user"] += 1
        if user.external_id:
            self.customers.append(user.external_id)

    async def settle(self, tickets: Sequence[ApiTicket], *, file_as: str | None) -> None:
        """Delete the tickets that may go; redact, file and count the ones that must be kept."""
        loaded = await self.desk.with_comments(tickets)

        async def remove(item: tuple[ApiTicket, list[ApiComment]]) -> bool:
            return await self.desk.delete(f"/api/v2/tickets/{item[0].id}", "tickets.delete")

        going = [item for item in loaded if not item[0].legal_hold]
        for (_, comments), gone in zip(going, await self.desk.map(remove, going), strict=True):
            if gone:
                self.deleted["tickets"] += 1
                self.deleted["comments"] += len(comments)
                self.deleted["attachments"] += sum(len(c.attachments) for c in comments)
        for ticket, comments in loaded:
            if ticket.legal_hold:
                await self._keep(ticket, comments, file_as=file_as)

    async def _keep(
        self, ticket: ApiTicket, comments: list[ApiComment], *, file_as: str | None
    ) -> None:
        if file_as and ticket.external_id is None:
            await self.desk.file_ticket(ticket, file_as)
        elif file_as and ticket.external_id != file_as:
            log.warning("support erase: a kept ticket is filed under another reference")

        async def redact(comment: ApiComment) -> bool:
            return await self._redact(ticket.id, comment)

        self.redacted += sum(await self.desk.map(redact, comments))
        self.kept["tickets"] += 1
        self.kept["comments"] += len(comments)
        self.kept["attachments"] += sum(len(c.attachments) for c in comments)

    async def _redact(self, ticket_id: int, comment: ApiComment) -> bool:
        """Redact the subject's data in one comment, and check the result; True if changed."""
        body = comment.body
        changed = False
        for _ in range(_REDACTION_PASSES):
            pieces = self.redactor.find(body)
            if not pieces:
                return changed
            for piece in pieces:
                now = await self.desk.redact(ticket_id, comment.id, piece)
                if now is not None:
                    body = now.body
            changed = True
        if self.redactor.find(body):
            raise PermanentError("support erase: a comment could not be redacted completely")
        return changed

    def evidence(self, users: int, retained: list[RetainedItem], today: date) -> str:
        """What was done, naming only the company's customer numbers."""
        if not users and not retained:
            return f"support erase on {today.isoformat()}: no user matched"
        named = ", ".join(self.customers[:_EVIDENCE_CUSTOMERS]) or "none"
        if len(self.customers) > _EVIDENCE_CUSTOMERS:
            named += f" and {len(self.customers) - _EVIDENCE_CUSTOMERS} more"
        found = f"{users} users (customers {named})"
        if self.already_deleted:
            found += f", {self.already_deleted} of them found among the deleted users"
        parts = [
            f"support erase on {today.isoformat()}: {found}",
            "deleted: " + ", ".join(f"{k} {v}" for k, v in self.deleted.items()),
            f"comments redacted: {self.redacted}",
        ]
        for item in retained:
            parts.append(
                f"retained: {item.category} {item.count} while on legal hold ({item.legal_basis})"
            )
        return "; ".join(parts)
