"""Erasure: the subscriber deleted with its tracking, the address's keyed hash blocklisted."""

from __future__ import annotations

import logging
from datetime import date

from connectors.newsletter._base import (
    DELETED_NAMES,
    EVIDENCE_CUSTOMERS,
    NOT_FOUND,
    SUPPRESSION_LEGAL_BASIS,
    NewsletterBase,
)
from connectors.newsletter._documents import ApiSubscriber
from connectors.newsletter._hashing import blocklist_hash
from schemas.plan import PlanAction, SystemPlan
from schemas.results import (
    EraseResult,
)
from schemas.status import RetainedItem, RetentionReason
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.newsletter")


def evidence(erased: list[ApiSubscriber], deleted: dict[str, int], kept: int, today: date) -> str:
    if not erased and not kept:
        return f"newsletter erase on {today.isoformat()}: no subscriber matched"
    numbers = list(dict.fromkeys(s.customer_number for s in erased if s.customer_number))
    named = ", ".join(numbers[:EVIDENCE_CUSTOMERS])
    if len(numbers) > EVIDENCE_CUSTOMERS:
        named += f" and {len(numbers) - EVIDENCE_CUSTOMERS} more"
    parts = [
        f"newsletter erase on {today.isoformat()}: {len(erased)} subscribers deleted"
        + (f" (customer numbers {named})" if named else ""),
        "deleted: " + ", ".join(f"{k} {v}" for k, v in deleted.items()),
        f"retained: blocklist {kept} address hashes while the reason lasts "
        f"({SUPPRESSION_LEGAL_BASIS})",
    ]
    return "; ".join(parts)


class ErasureMixin(NewsletterBase):
    # --- erase ----------------------------------------------------------------------------

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        """The plan deletes the subscriber (with its subscriptions and tracking, which the
        newsletter system deletes together); the address's keyed hash goes on the blocklist
        and stays (the policy's suppression rule), so the address is never imported again."""
        today = plan.created_on or date.min
        match = await self._match(subject, "erase")
        self._refuse_if_ambiguous(match, "erase")
        subscribers = match.ordered if plan.acts_on("subscriber", PlanAction.DELETE) else []
        deleted = dict.fromkeys(DELETED_NAMES, 0)
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
                expected=NOT_FOUND,
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
            evidence=evidence(erased, deleted, kept, today),
        )
