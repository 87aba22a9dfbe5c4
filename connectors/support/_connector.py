"""The support connector: the help desk's users, tickets with their conversation, attachments,
recorded calls and satisfaction ratings, through the desk's REST API (Zendesk API v2 shape).

Rules it applies (the company's policy, see ARCHITECTURE.md):
- Erasure deletes the user for good (Zendesk's two steps: delete, then delete the deleted user),
  the recorded calls, the satisfaction ratings and every ticket that need not be kept.
- A deleted user not yet purged still holds the person's name, e-mail and phone, and search no
  longer finds it: the connector looks for the subject among the desk's deleted users too
  (`_matching`). Locate counts such a user under `user` (and what it still has), so the
  workflow's verification sees an erasure that stopped between deletion and purge; erasure
  purges it; export includes it; rectification leaves it (the desk cannot change it).
- A ticket tagged `legal_hold` (a billing dispute, a complaint that may go to court) is kept:
  GDPR Art. 17(3)(e). Its conversation loses the subject's personal data instead: every comment
  is redacted (name, e-mail, phone, personnummer, domains; see `_redaction`), the ticket is filed
  under the customer number (its `external_id`) so it stays findable after the user is gone, and
  it is reported as retained (tickets, comments, attachments) with the reason and no end date:
  the hold lasts as long as the claim. A later erasure finds it again by the customer number,
  and deletes it once the hold has been lifted.
- The desk has no identity number, so the name is what tells people apart: an identifier that
  leads to a user with another name than the one given, or identifiers leading to users with
  different names, make the subject ambiguous; the connector then reports it and refuses to
  export, erase or rectify, because that would touch somebody else's data.

Every operation pages through lists to the end and streams its work a page at a time: a user with
ten thousand tickets is never held in memory. Nothing personal is logged or put into an error;
the evidence of an erasure names only the company's customer numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import date
from typing import Self
from urllib.parse import urlsplit

from connectors.base import (
    AmbiguousSubject,
    ConfigurationError,
    Connector,
    DataCategory,
    ExportSink,
    Operation,
    load_settings,
)
from connectors.base.matching import (
    match_to_rectify,
    normalise_email,
    normalise_phone,
    split_rectification,
)
from connectors.base.retry import RetryPolicy
from connectors.support._desk import Desk
from connectors.support._erasure import CATEGORY_NAMES, Erasure
from connectors.support._errors import SinkFailure
from connectors.support._http import SupportApi
from connectors.support._identity import SEARCH_FIELDS
from connectors.support._matching import Match, learned_identifiers, match_subject
from connectors.support._models import ApiTicket, ApiUser
from connectors.support._records import (
    attachment_record,
    call_record,
    comment_record,
    rating_record,
    ticket_record,
    user_record,
)
from connectors.support._redaction import Redactor
from connectors.support._settings import SupportSettings
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.plan import PlanAction, SystemPlan
from schemas.results import EraseResult, ExportResult, LocateResult, RecordFacts, RectifyResult
from schemas.subject import SubjectRef

__all__ = ["CATEGORY_NAMES", "LEGAL_HOLD_BASIS", "RECTIFIABLE_FIELDS", "SupportConnector"]

log = logging.getLogger("connectors.support")

LEGAL_HOLD_BASIS = "Rättslig förpliktelse / rättsliga anspråk (GDPR art. 17.3 e)"
RECTIFIABLE_FIELDS = ("name", "email", "phone")


async def _write(sink: ExportSink, category: str, record: dict[str, object]) -> None:
    try:
        await sink.write(category, record)
    except Exception as exc:
        raise SinkFailure(exc) from exc


def _refuse_if_ambiguous(match: Match, operation: str) -> None:
    if match.ambiguity:
        raise AmbiguousSubject(f"support refuses to {operation}: {match.ambiguity}")


class SupportConnector(Connector):
    """The help desk (Zendesk-shaped REST API) behind `DSR_SUPPORT_BASE_URL`."""

    name = "support"
    search_identifiers = frozenset(SEARCH_FIELDS)
    categories = (
        DataCategory(
            name="user",
            description=(
                "The help desk's user record: name, e-mail address, phone number, customer "
                "number, company (organization) and when the user was created"
            ),
            purpose="Answer the customer's questions and support the services bought (contract)",
        ),
        DataCategory(
            name="tickets",
            description=(
                "Support tickets the customer opened: subject, status, tags, channel, dates; "
                "tickets under legal hold (e.g. billing disputes) are kept, redacted"
            ),
            purpose="Support on the services bought (contract); legal claims (legal obligation)",
        ),
        DataCategory(
            name="comments",
            description=(
                "The conversation in the tickets: the customer's messages, the support team's "
                "replies and internal notes, as written (they can hold any personal data)"
            ),
            purpose="Support on the services bought (contract); legal claims (legal obligation)",
        ),
        DataCategory(
            name="attachments",
            description="Files attached to ticket comments: name, type, size and link",
            purpose="Support on the services bought (contract); legal claims (legal obligation)",
        ),
        DataCategory(
            name="call_recordings",
            description="Recorded support calls: time, duration, direction and the recording",
            purpose="Training of the support team, the caller informed before the call",
        ),
        DataCategory(
            name="satisfaction_ratings",
            description="The customer's rating of a solved ticket (good or bad) and comment",
            purpose="Improve the support (legitimate interest)",
        ),
    )
    operations = frozenset({Operation.LOCATE, Operation.EXPORT, Operation.ERASE, Operation.RECTIFY})

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
        concurrency: int = 4,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("support base URL must be an http(s) URL with a host")
        if not api_token:
            raise ConfigurationError("support needs an API token")
        if not 1 <= page_size <= 100 or concurrency < 1:
            raise ConfigurationError("support page size must be 1-100, concurrency at least 1")
        self._api = SupportApi(
            base_url,
            api_token,
            timeout=timeout,
            connect_timeout=connect_timeout,
            retry=retry or RetryPolicy(),
            page_size=page_size,
            pool_size=concurrency * 2,
        )
        self._concurrency = concurrency
        self._host = parts.hostname

    def __repr__(self) -> str:
        return f"SupportConnector({self._host})"

    @classmethod
    def from_settings(cls) -> Self:
        settings = load_settings(SupportSettings, "support")
        if not settings.base_url:
            raise ConfigurationError("DSR_SUPPORT_BASE_URL is not set")
        if settings.api_token is None or not settings.api_token.get_secret_value():
            raise ConfigurationError("DSR_SUPPORT_API_TOKEN is not set")
        return cls(
            settings.base_url,
            settings.api_token.get_secret_value(),
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            retry=settings.retry_policy(),
            page_size=settings.page_size,
            concurrency=settings.concurrency,
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    def _desk(self, operation: str) -> Desk:
        return Desk(self._api, self._concurrency, operation)

    # --- locate ---------------------------------------------------------------------------

    async def locate(self, subject: SubjectRef) -> LocateResult:
        desk = self._desk("locate")
        match = await match_subject(desk, subject)
        counts = dict.fromkeys(CATEGORY_NAMES, 0)
        counts["user"] = len(match.users)

        held = dict.fromkeys(("tickets", "comments", "attachments"), 0)

        async def tickets() -> None:
            async for page in _tickets(desk, match):
                counts["tickets"] += len(page)
                for ticket, comments in await desk.with_comments(page):
                    attachments = sum(len(c.attachments) for c in comments)
                    counts["comments"] += len(comments)
                    counts["attachments"] += attachments
                    if ticket.legal_hold:
                        held["tickets"] += 1
                        held["comments"] += len(comments)
                        held["attachments"] += attachments

        async def activity(user: ApiUser) -> None:
            calls, ratings = await asyncio.gather(desk.count_calls(user), desk.count_ratings(user))
            counts["call_recordings"] += calls
            counts["satisfaction_ratings"] += ratings

        # Tickets, calls and ratings, and what the subject is known by, all at once.
        learned, *_ = await asyncio.gather(
            learned_identifiers(desk, subject, match),
            tickets(),
            desk.map(activity, match.ordered),
        )
        log.info(
            "support locate: %d users (%d deleted, not purged), %d tickets, ambiguous=%s",
            counts["user"],
            counts["user"] - len(match.active),
            counts["tickets"],
            match.ambiguity is not None,
        )
        return LocateResult(
            system=self.name,
            counts=counts,
            learned=learned,
            ambiguous=match.ambiguity is not None,
            ambiguity_reason=match.ambiguity,
            facts=_hold_facts(counts, held),
        )

    # --- export ---------------------------------------------------------------------------

    async def export(self, subject: SubjectRef, sink: ExportSink) -> ExportResult:
        desk = self._desk("export")
        match = await match_subject(desk, subject)
        _refuse_if_ambiguous(match, "export")
        counts = dict.fromkeys(CATEGORY_NAMES, 0)

        async def write(category: str, record: dict[str, object]) -> None:
            await _write(sink, category, record)
            counts[category] += 1

        try:
            for user in match.ordered:
                await write("user", user_record(user, await desk.organization(user)))
            async for page in _tickets(desk, match):
                # One page of tickets and their conversations at a time, written as it comes.
                for ticket, comments in await desk.with_comments(page):
                    await write("tickets", ticket_record(ticket, len(comments)))
                    for comment in comments:
                        await write("comments", comment_record(ticket, comment))
                        for attachment in comment.attachments:
                            await write(
                                "attachments", attachment_record(ticket, comment, attachment)
                            )
            for user in match.ordered:
                async for calls in desk.calls(user):
                    for call in calls:
                        await write("call_recordings", call_record(call))
                async for ratings in desk.ratings(user):
                    for rating in ratings:
                        await write("satisfaction_ratings", rating_record(rating))
        except SinkFailure as failure:  # the caller's own error: re-raise it as it was
            raise failure.original from failure.original.__cause__
        log.info("support export: %d records", sum(counts.values()))
        return ExportResult(system=self.name, counts=counts)

    # --- erase ----------------------------------------------------------------------------

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        """The plan deletes the user with the tickets not on legal hold; tickets on hold (the
        plan retains them) are kept, with the subject's data redacted from their comments."""
        today = plan.created_on or date.min
        desk = self._desk("erase")
        match = await match_subject(desk, subject)
        _refuse_if_ambiguous(match, "erase")
        users = match.ordered if plan.acts_on("user", PlanAction.DELETE) else []
        redactor = Redactor(
            subject,
            names=[u.name for u in users],
            emails=[u.email for u in users],
            phones=[u.phone for u in users],
        )
        erasure = Erasure(desk, redactor)
        for user in users:
            await erasure.erase_user(user)
        async for page in desk.filed(match.customer_numbers, set(match.users)):
            await erasure.settle(page, file_as=None)
        retained = plan.retained_items()
        log.info(
            "support erase: %d users, %d records deleted, %d comments redacted, %d tickets kept",
            len(users),
            sum(erasure.deleted.values()),
            erasure.redacted,
            erasure.kept["tickets"],
        )
        return EraseResult(
            system=self.name,
            deleted=erasure.deleted,
            anonymised={"comments": erasure.redacted},
            retained=retained,
            evidence=erasure.evidence(len(users), retained, today),
        )

    # --- rectify --------------------------------------------------------------------------

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        split = split_rectification(changes, _clean, rectifiable=RECTIFIABLE_FIELDS)
        values = split.values
        desk = self._desk("rectify")
        match = await match_to_rectify(
            subject, values, lambda s: match_subject(desk, s), lambda m: m.ambiguity
        )
        _refuse_if_ambiguous(match, "rectify")
        users = match.active  # a deleted user cannot be changed, only purged
        if "email" in values and users and not await _email_is_free(desk, values["email"], match):
            split.refuse("email")  # another desk user's address
        changed: dict[str, int] = {}
        if values and users:
            for user in users:
                await desk.update_user(user, values)
            changed["user"] = len(users)
        log.info(
            "support rectify: %d fields on %d users, %d not held, %d refused",
            len(values),
            len(users),
            len(split.not_held),
            len(split.refused),
        )
        return RectifyResult(
            system=self.name,
            changed=changed,
            rejected_fields=split.not_held,
            refused_fields=split.refused,
        )


async def _tickets(desk: Desk, match: Match) -> AsyncIterator[list[ApiTicket]]:
    """The subject's tickets a page at a time: those its users requested, then kept tickets
    filed under its customer numbers whose requester is gone (an earlier erasure)."""
    for user in match.ordered:
        async for page in desk.requested(user):
            yield page
    async for page in desk.filed(match.customer_numbers, set(match.users)):
        yield page


async def _email_is_free(desk: Desk, email: str, match: Match) -> bool:
    """An e-mail address belongs to one user: it may move to the subject's only active user, not
    be given to two users, nor taken from somebody else."""
    if len(match.active) > 1:
        return False
    owners = await desk.search(IdentifierType.EMAIL, email)
    return all(owner.id in match.users for owner in owners)


def _clean(field_name: str, value: str) -> str | None:
    """A rectified value as the desk stores it, or None if it is not acceptable."""
    value = value.strip()
    if field_name not in RECTIFIABLE_FIELDS or not value:
        return None
    if field_name == "email":
        return normalise_email(value)
    if field_name == "phone":
        return normalise_phone(value)
    return " ".join(value.split()) if len(value) <= 200 else None


def _hold_facts(counts: dict[str, int], held: dict[str, int]) -> list[RecordFacts]:
    """Tickets and their conversation split by legal hold: what the policy's rule needs."""
    facts: list[RecordFacts] = []
    for category, on_hold in held.items():
        facts += [
            RecordFacts(category=category, count=on_hold, legal_hold=True),
            RecordFacts(category=category, count=counts[category] - on_hold),
        ]
    return [f for f in facts if f.count]
