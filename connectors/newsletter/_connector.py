"""The newsletter connector: subscribers, their list subscriptions and tracking in listmonk.

Rules it applies (the company's policy: the monthly newsletter is sent to those who asked for it):
- Erasure deletes the subscriber with its subscriptions, campaign views and link clicks, and
  first puts a salted hash (HMAC-SHA256) of the address on the blocklist, so that an import can
  never bring the address back. The hash is retained for as long as the reason lasts
  (legitimate interest in honouring the erasure, GDPR art. 17.3 / 21.3); after the erasure,
  locate finds only `blocklist`.
- Objection and consent withdrawal (`unsubscribe`) end every subscription but keep the
  subscriber: the person stays known as somebody who does not want the newsletter.
- Restriction blocklists the subscriber (listmonk then sends nothing and unsubscribes from every
  list) and remembers, in the subscriber's attributes, which subscriptions to restore; lifting it
  restores them. A subscriber blocklisted for another reason (bounces) is left as it is.
- Rectification changes the name and the address.
- An ambiguous subject (see `_matching`) is reported by locate and refused by everything else.

Nothing personal is logged or put into an error; the evidence names only customer numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import date
from typing import Any, Self, TypeVar

from connectors.base import (
    AmbiguousSubject,
    ConfigurationError,
    Connector,
    DataCategory,
    ExportSink,
    Operation,
    load_settings,
)
from connectors.base.matching import split_changes
from connectors.newsletter._documents import ApiClick, ApiSubscriber, ApiView, parse
from connectors.newsletter._hashing import blocklist_hash
from connectors.newsletter._http import ListmonkClient, decode
from connectors.newsletter._matching import (
    SEARCHABLE,
    Match,
    ambiguity,
    learned,
    normalise,
    search_query,
)
from connectors.newsletter._records import (
    blocklist_record,
    click_record,
    subscriber_record,
    subscription_record,
    view_record,
)
from connectors.newsletter._settings import NewsletterSettings
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.plan import PlanAction, SystemPlan
from schemas.results import (
    EraseResult,
    ExportResult,
    LocateResult,
    RectifyResult,
    RestrictResult,
    UnsubscribeResult,
)
from schemas.status import RetainedItem, RetentionReason
from schemas.subject import SubjectRef

__all__ = [
    "RECTIFIABLE_FIELDS",
    "RESTRICTION_MARK",
    "SUPPRESSION_LEGAL_BASIS",
    "NewsletterConnector",
]

log = logging.getLogger("connectors.newsletter")
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

SUPPRESSION_LEGAL_BASIS = "Berättigat intresse: spärr mot återimport (GDPR art. 17.3, art. 21.3)"
RECTIFIABLE_FIELDS = ("name", "email")
# The attribute that records a restriction made by this connector, and what it suspended.
RESTRICTION_MARK = "dsr_restricted"

_CATEGORY_NAMES = ("subscriber", "subscriptions", "campaign_views", "link_clicks", "blocklist")
_DELETED_NAMES = _CATEGORY_NAMES[:4]
_NOT_FOUND = frozenset({404})
_EVIDENCE_CUSTOMERS = 20


async def _gather(*steps: Awaitable[T]) -> list[T]:
    """Run the steps concurrently; the first failure is raised once all have finished (none is
    left running, and none of their exceptions goes unretrieved)."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if not isinstance(r, BaseException)]


async def _both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Two different steps concurrently, with `_gather`'s handling of failures."""
    one, two = await asyncio.gather(first, second, return_exceptions=True)
    for result in (one, two):
        if isinstance(result, BaseException):
            raise result
    return one, two  # type: ignore[return-value]  # both checked not to be exceptions above


class NewsletterConnector(Connector):
    """The newsletter (listmonk): subscribers, subscriptions, tracking and the blocklist."""

    name = "newsletter"
    search_identifiers = frozenset({IdentifierType.EMAIL, IdentifierType.CUSTOMER_NUMBER})
    categories = (
        DataCategory(
            name="subscriber",
            description=(
                "Subscriber profile: e-mail address, name, attributes (customer number, city, "
                "company), status, when subscribed"
            ),
            purpose="Send the monthly newsletter to those who asked for it (consent)",
        ),
        DataCategory(
            name="subscriptions",
            description=(
                "The lists subscribed to (newsletter, operations notices, offers, ...) with "
                "opt-in status and dates"
            ),
            purpose="Send only the lists the subscriber chose (consent)",
        ),
        DataCategory(
            name="campaign_views",
            description="Which newsletter campaigns the subscriber opened, and when",
            purpose="Measure how the newsletter is read (legitimate interest)",
        ),
        DataCategory(
            name="link_clicks",
            description="Which links in which campaigns the subscriber clicked, and when",
            purpose="Measure how the newsletter is read (legitimate interest)",
        ),
        DataCategory(
            name="blocklist",
            description=(
                "A keyed hash (HMAC-SHA256) of an erased subscriber's e-mail address, not the "
                "address itself"
            ),
            purpose="Never import or mail an erased address again",
        ),
    )
    operations = frozenset(
        {
            Operation.LOCATE,
            Operation.EXPORT,
            Operation.ERASE,
            Operation.RECTIFY,
            Operation.RESTRICT,
            Operation.LIFT_RESTRICTION,
            Operation.UNSUBSCRIBE,
        }
    )

    def __init__(
        self,
        base_url: str,
        api_user: str,
        api_token: str,
        blocklist_salt: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        page_size: int = 100,
    ) -> None:
        if not blocklist_salt:
            raise ConfigurationError("newsletter blocklist salt must not be empty")
        if not 1 <= page_size <= 1000:
            raise ConfigurationError("newsletter page size must be from 1 to 1000")
        self._client = ListmonkClient(
            base_url,
            api_user,
            api_token,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
        )
        self._salt = blocklist_salt
        self._page_size = page_size

    def __repr__(self) -> str:
        return "NewsletterConnector()"

    @classmethod
    def from_settings(cls) -> Self:
        settings = load_settings(NewsletterSettings, "newsletter")
        required = {
            "base_url": settings.base_url or "",
            "api_user": settings.api_user or "",
            "api_token": settings.api_token.get_secret_value() if settings.api_token else "",
            "blocklist_salt": (
                settings.blocklist_salt.get_secret_value() if settings.blocklist_salt else ""
            ),
        }
        missing = [
            f"DSR_NEWSLETTER_{name.upper()}" for name, value in required.items() if not value
        ]
        if missing:
            raise ConfigurationError(f"{', '.join(missing)} not set")
        return cls(
            required["base_url"],
            required["api_user"],
            required["api_token"],
            required["blocklist_salt"],
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            max_retries=settings.max_retries,
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
            page_size=settings.page_size,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- locate ---------------------------------------------------------------------------

    async def locate(self, subject: SubjectRef) -> LocateResult:
        match = await self._match(subject, "locate")
        counts = dict.fromkeys(_CATEGORY_NAMES, 0)
        subscribers = match.ordered
        totals, blocked = await _both(
            _gather(*(self._tracking_totals(s.id, "locate") for s in subscribers)),
            self._blocklist_entries(match.emails(subject), "locate"),
        )
        counts["subscriber"] = len(subscribers)
        counts["subscriptions"] = sum(len(s.lists) for s in subscribers)
        counts["campaign_views"] = sum(views for views, _ in totals)
        counts["link_clicks"] = sum(clicks for _, clicks in totals)
        counts["blocklist"] = sum(1 for entry in blocked.values() if entry is not None)
        log.info(
            "newsletter locate: %d subscribers, %d blocklisted addresses, ambiguous=%s",
            counts["subscriber"],
            counts["blocklist"],
            match.ambiguity is not None,
        )
        return LocateResult(
            system=self.name,
            counts=counts,
            learned=[] if match.ambiguity else learned(subject, match),
            ambiguous=match.ambiguity is not None,
            ambiguity_reason=match.ambiguity,
        )

    async def _match(self, subject: SubjectRef, operation: str) -> Match:
        searches: list[tuple[IdentifierType, str]] = []
        for identifier in subject.identifiers:
            if identifier.type in SEARCHABLE:
                value = normalise(identifier.type, identifier.value)
                if value is not None and (identifier.type, value) not in searches:
                    searches.append((identifier.type, value))
        found = await _gather(*(self._search(kind, value, operation) for kind, value in searches))
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
        views, clicks = await _gather(
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
        entries = await _gather(*(self._blocklist_entry(email, operation) for email in emails))
        return dict(zip(emails, entries, strict=True))

    async def _blocklist_entry(self, email: str, operation: str) -> dict[str, Any] | None:
        response = await self._client.request(
            "GET",
            f"/api/blocklist/hashes/{blocklist_hash(email, self._salt)}",
            operation=operation,
            expected=_NOT_FOUND,
        )
        if response.status_code == 404:
            return None
        document = decode(response, operation)
        entry = document.get("data") if isinstance(document, dict) else None
        return entry if isinstance(entry, dict) else {}

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        if match.ambiguity:
            raise AmbiguousSubject(f"newsletter refuses to {operation}: {match.ambiguity}")

    # --- export ---------------------------------------------------------------------------

    async def export(self, subject: SubjectRef, sink: ExportSink) -> ExportResult:
        match = await self._match(subject, "export")
        self._refuse_if_ambiguous(match, "export")
        counts = dict.fromkeys(_CATEGORY_NAMES, 0)
        for subscriber in match.ordered:
            await sink.write("subscriber", subscriber_record(subscriber))
            counts["subscriber"] += 1
            for item in subscriber.lists:
                await sink.write("subscriptions", subscription_record(subscriber, item))
                counts["subscriptions"] += 1
            base = f"/api/subscribers/{subscriber.id}"
            async for document in self._client.pages(
                f"{base}/campaign_views",
                operation="export",
                page_size=self._page_size,
                missing_ok=True,
            ):
                view = parse(ApiView, document, "export")
                await sink.write("campaign_views", view_record(subscriber, view))
                counts["campaign_views"] += 1
            async for document in self._client.pages(
                f"{base}/link_clicks",
                operation="export",
                page_size=self._page_size,
                missing_ok=True,
            ):
                click = parse(ApiClick, document, "export")
                await sink.write("link_clicks", click_record(subscriber, click))
                counts["link_clicks"] += 1
        blocked = await self._blocklist_entries(match.emails(subject), "export")
        for email, entry in blocked.items():
            if entry is not None:
                await sink.write("blocklist", blocklist_record(email, entry))
                counts["blocklist"] += 1
        log.info("newsletter export: %d records", sum(counts.values()))
        return ExportResult(system=self.name, counts=counts)

    # --- erase ----------------------------------------------------------------------------

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        """The plan deletes the subscriber (with its subscriptions and tracking, which the
        newsletter system deletes together); the address's keyed hash goes on the blocklist
        and stays (the policy's suppression rule), so the address is never imported again."""
        today = plan.created_on or date.min
        match = await self._match(subject, "erase")
        self._refuse_if_ambiguous(match, "erase")
        subscribers = match.ordered if plan.acts_on("subscriber", PlanAction.DELETE) else []
        deleted = dict.fromkeys(_DELETED_NAMES, 0)
        erased: list[ApiSubscriber] = []
        if subscribers:
            # Blocklist first: if the deletion fails half way, the retry finds the hash already
            # there; the other order could leave a deleted address importable.
            await self._client.request(
                "POST",
                "/api/blocklist/hashes",
                operation="erase",
                json={"hashes": [blocklist_hash(s.email, self._salt) for s in subscribers]},
            )
        for subscriber in subscribers:
            views, clicks = await self._tracking_totals(subscriber.id, "erase")
            response = await self._client.request(
                "DELETE",
                f"/api/subscribers/{subscriber.id}",
                operation="erase",
                expected=_NOT_FOUND,
            )
            if response.status_code == 404:  # deleted since it was found
                continue
            erased.append(subscriber)
            deleted["subscriber"] += 1
            deleted["subscriptions"] += len(subscriber.lists)
            deleted["campaign_views"] += views
            deleted["link_clicks"] += clicks
        blocked = await self._blocklist_entries(match.emails(subject), "erase")
        kept = sum(1 for entry in blocked.values() if entry is not None)
        retained = []
        if kept:
            retained.append(
                RetainedItem(
                    category="blocklist",
                    count=kept,
                    reason=RetentionReason.SUPPRESSION,
                    until=None,
                    legal_basis=SUPPRESSION_LEGAL_BASIS,
                )
            )
        log.info(
            "newsletter erase: %d subscribers deleted, %d records, %d address hashes kept",
            deleted["subscriber"],
            sum(deleted.values()),
            kept,
        )
        return EraseResult(
            system=self.name,
            deleted=deleted,
            retained=retained,
            evidence=_evidence(erased, deleted, kept, today),
        )

    # --- rectify --------------------------------------------------------------------------

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        values, rejected = split_changes(changes, _clean)
        match = await self._match(subject, "rectify")
        self._refuse_if_ambiguous(match, "rectify")
        subscribers = match.ordered
        if "email" in values and len(subscribers) > 1:
            # One new address cannot replace several subscribers' addresses (it is unique).
            del values["email"]
            rejected.append("email")
        changed = 0
        for subscriber in subscribers:
            update = {k: v for k, v in values.items() if getattr(subscriber, k) != v}
            if not update:
                continue
            outcome = await self._put_subscriber(subscriber.id, update, "rectify")
            if outcome in (400, 409) and "email" in update:
                # The address is another subscriber's, or erased (blocklisted): keep the rest.
                if "email" not in rejected:
                    rejected.append("email")
                del update["email"]
                outcome = await self._put_subscriber(subscriber.id, update, "rectify")
            if outcome == 200 and update:
                changed += 1
        log.info(
            "newsletter rectify: %d subscribers changed, %d fields, %d rejected",
            changed,
            len(values),
            len(rejected),
        )
        return RectifyResult(
            system=self.name,
            changed={"subscriber": changed} if changed else {},
            rejected_fields=rejected,
        )

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

    # --- restrict -------------------------------------------------------------------------

    async def restrict(self, subject: SubjectRef) -> RestrictResult:
        match = await self._match(subject, "restrict")
        self._refuse_if_ambiguous(match, "restrict")
        restricted = 0
        for subscriber in match.ordered:
            if subscriber.status != "blocklisted":  # already blocklisted: nothing is sent
                suspended = {
                    str(item.id): item.subscription_status
                    for item in subscriber.lists
                    if item.subscription_status != "unsubscribed"
                }
                attribs = {**subscriber.attribs, RESTRICTION_MARK: {"lists": suspended}}
                update = {"status": "blocklisted", "attribs": attribs}
                if await self._put_subscriber(subscriber.id, update, "restrict") == 404:
                    continue
            restricted += 1
        log.info("newsletter restrict: %d subscribers", restricted)
        return RestrictResult(
            system=self.name, restricted={"subscriber": restricted} if restricted else {}
        )

    async def lift_restriction(self, subject: SubjectRef) -> RestrictResult:
        match = await self._match(subject, "lift restriction")
        self._refuse_if_ambiguous(match, "lift restriction")
        lifted = 0
        for subscriber in match.ordered:
            mark = subscriber.attribs.get(RESTRICTION_MARK)
            if not isinstance(mark, dict):  # not restricted by a DSR: leave it as it is
                continue
            # Enable first, then restore the subscriptions (listmonk would not subscribe a
            # blocklisted subscriber), then drop the mark: a retry after a failure redoes it all.
            if (
                await self._put_subscriber(subscriber.id, {"status": "enabled"}, "lift restriction")
                == 404
            ):
                continue
            await self._restore_subscriptions(subscriber.id, mark)
            attribs = {k: v for k, v in subscriber.attribs.items() if k != RESTRICTION_MARK}
            await self._put_subscriber(subscriber.id, {"attribs": attribs}, "lift restriction")
            lifted += 1
        log.info("newsletter lift restriction: %d subscribers", lifted)
        return RestrictResult(system=self.name, restricted={"subscriber": lifted} if lifted else {})

    async def _restore_subscriptions(self, subscriber_id: int, mark: dict[str, Any]) -> None:
        suspended = mark.get("lists")
        by_status: dict[str, list[int]] = {}
        if isinstance(suspended, dict):
            for list_id, status in suspended.items():
                if str(list_id).isdigit() and status in ("confirmed", "unconfirmed"):
                    by_status.setdefault(status, []).append(int(list_id))
        for status, list_ids in sorted(by_status.items()):
            await self._client.request(
                "PUT",
                "/api/subscribers/lists",
                operation="lift restriction",
                json={
                    "ids": [subscriber_id],
                    "action": "add",
                    "target_list_ids": sorted(list_ids),
                    "status": status,
                },
            )

    # --- unsubscribe ----------------------------------------------------------------------

    async def unsubscribe(self, subject: SubjectRef) -> UnsubscribeResult:
        match = await self._match(subject, "unsubscribe")
        self._refuse_if_ambiguous(match, "unsubscribe")
        for subscriber in match.ordered:
            mark = subscriber.attribs.get(RESTRICTION_MARK)
            if isinstance(mark, dict) and mark.get("lists"):
                # Restricted: its subscriptions are suspended, not ended. Forget them, or lifting
                # the restriction would subscribe somebody who has since objected.
                attribs = {**subscriber.attribs, RESTRICTION_MARK: {**mark, "lists": {}}}
                await self._put_subscriber(subscriber.id, {"attribs": attribs}, "unsubscribe")
            active = [i.id for i in subscriber.lists if i.subscription_status != "unsubscribed"]
            if active:
                await self._client.request(
                    "PUT",
                    "/api/subscribers/lists",
                    operation="unsubscribe",
                    json={
                        "ids": [subscriber.id],
                        "action": "unsubscribe",
                        "target_list_ids": active,
                    },
                )
        # Report the state reached, read back: every subscription of the subject now ended.
        after = await self._match(subject, "unsubscribe")
        ended = sum(
            1
            for subscriber in after.ordered
            for item in subscriber.lists
            if item.subscription_status == "unsubscribed"
        )
        log.info(
            "newsletter unsubscribe: %d subscribers, %d subscriptions ended",
            len(after.subscribers),
            ended,
        )
        return UnsubscribeResult(
            system=self.name, unsubscribed={"subscriptions": ended} if ended else {}
        )


def _clean(field_name: str, value: str) -> str | None:
    """A rectified value as the newsletter stores it, or None if it is not acceptable."""
    if field_name == "email":
        return normalise(IdentifierType.EMAIL, value)
    if field_name == "name":
        name = " ".join(value.split())
        return name if name and len(name) <= 200 else None
    return None


def _evidence(erased: list[ApiSubscriber], deleted: dict[str, int], kept: int, today: date) -> str:
    if not erased and not kept:
        return f"newsletter erase on {today.isoformat()}: no subscriber matched"
    numbers = list(dict.fromkeys(s.customer_number for s in erased if s.customer_number))
    named = ", ".join(numbers[:_EVIDENCE_CUSTOMERS])
    if len(numbers) > _EVIDENCE_CUSTOMERS:
        named += f" and {len(numbers) - _EVIDENCE_CUSTOMERS} more"
    parts = [
        f"newsletter erase on {today.isoformat()}: {len(erased)} subscribers deleted"
        + (f" (customer numbers {named})" if named else ""),
        "deleted: " + ", ".join(f"{k} {v}" for k, v in deleted.items()),
        f"retained: blocklist {kept} address hashes while the reason lasts "
        f"({SUPPRESSION_LEGAL_BASIS})",
    ]
    return "; ".join(parts)
