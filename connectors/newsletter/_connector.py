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

import logging
from typing import Self

from connectors.base import (
    ConfigurationError,
    DataCategory,
    ExportSink,
    Operation,
    load_settings,
)
from connectors.base.retry import RetryPolicy
from connectors.newsletter._base import (
    CATEGORY_NAMES,
    RECTIFIABLE_FIELDS,
    RESTRICTION_MARK,
    SUPPRESSION_LEGAL_BASIS,
    NewsletterBase,
    both,
    gather,
)
from connectors.newsletter._changes import ChangesMixin
from connectors.newsletter._documents import ApiClick, ApiView, parse
from connectors.newsletter._erasure import ErasureMixin
from connectors.newsletter._http import ListmonkClient
from connectors.newsletter._matching import (
    learned,
)
from connectors.newsletter._records import (
    blocklist_record,
    click_record,
    subscriber_record,
    subscription_record,
    view_record,
)
from connectors.newsletter._settings import NewsletterSettings
from schemas.identifiers import IdentifierType
from schemas.results import (
    ExportResult,
    LocateResult,
)
from schemas.subject import SubjectRef

__all__ = [
    "RECTIFIABLE_FIELDS",
    "RESTRICTION_MARK",
    "SUPPRESSION_LEGAL_BASIS",
    "NewsletterConnector",
]

log = logging.getLogger("connectors.newsletter")


class NewsletterConnector(ErasureMixin, ChangesMixin, NewsletterBase):
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
        retry: RetryPolicy | None = None,
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
            retry=retry,
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
            retry=settings.retry_policy(),
            page_size=settings.page_size,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- locate ---------------------------------------------------------------------------

    async def locate(self, subject: SubjectRef) -> LocateResult:
        match = await self._match(subject, "locate")
        counts = dict.fromkeys(CATEGORY_NAMES, 0)
        subscribers = match.ordered
        totals, blocked = await both(
            gather(*(self._tracking_totals(s.id, "locate") for s in subscribers)),
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

    # --- export ---------------------------------------------------------------------------

    async def export(self, subject: SubjectRef, sink: ExportSink) -> ExportResult:
        match = await self._match(subject, "export")
        self._refuse_if_ambiguous(match, "export")
        counts = dict.fromkeys(CATEGORY_NAMES, 0)
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
