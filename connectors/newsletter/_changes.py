"""Rectification, restriction and unsubscribing (objection, consent withdrawal)."""

from __future__ import annotations

import logging
from typing import Any

from connectors.base.matching import match_to_rectify, names_match, split_rectification
from connectors.newsletter._base import (
    RESTRICTION_MARK,
    NewsletterBase,
)
from connectors.newsletter._matching import (
    normalise,
)
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.results import (
    RectifyResult,
    RestrictResult,
    UnsubscribeResult,
)
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.newsletter")


RECTIFIABLE_ONLY = ("email", "name")


def clean(field_name: str, value: str) -> str | None:
    """A rectified value as the newsletter stores it, or None if it is not acceptable."""
    if field_name == "email":
        return normalise(IdentifierType.EMAIL, value)
    if field_name == "name":
        name = " ".join(value.split())
        return name if name and len(name) <= 200 else None
    return None


class ChangesMixin(NewsletterBase):
    # --- rectify --------------------------------------------------------------------------

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        """Idempotent: a subscriber already at the values counts as rectified — also one a
        first attempt moved to the new address, which the subject's old identifiers no longer
        find (then it is looked up by the new address, and counted only if its name is the
        subject's and every value already is the one asked for: it is never written)."""
        split = split_rectification(changes, clean, rectifiable=RECTIFIABLE_ONLY)
        values = split.values
        match = await match_to_rectify(
            subject, values, lambda s: self._match(s, "rectify"), lambda m: m.ambiguity
        )
        self._refuse_if_ambiguous(match, "rectify")
        subscribers = match.ordered
        if "email" in values and len(subscribers) > 1:
            # One new address cannot replace several subscribers' addresses (it is unique).
            split.refuse("email")
        changed = 0
        for subscriber in subscribers:
            update = {k: v for k, v in values.items() if getattr(subscriber, k) != v}
            if not update:
                changed += 1 if values else 0  # already as asked (a retried attempt)
                continue
            outcome = await self._put_subscriber(subscriber.id, update, "rectify")
            if outcome in (400, 409) and "email" in update:
                # The address is another subscriber's, or erased (blocklisted): keep the rest.
                split.refuse("email")
                del update["email"]
                outcome = await self._put_subscriber(subscriber.id, update, "rectify")
            if outcome == 200 and update:
                changed += 1
        if not subscribers and "email" in values and subject.name:
            changed += await self._already_moved(values.get("name", subject.name), values)
        log.info(
            "newsletter rectify: %d subscribers changed, %d fields, %d not held, %d refused",
            changed,
            len(values),
            len(split.not_held),
            len(split.refused),
        )
        return RectifyResult(
            system=self.name,
            changed={"subscriber": changed} if changed else {},
            rejected_fields=split.not_held,
            refused_fields=split.refused,
        )

    async def _already_moved(self, name: str, values: dict[str, str]) -> int:
        """Subscribers at the new address that already hold every value asked for, under the
        subject's name: what an earlier attempt of this rectification left."""
        found = await self._search(IdentifierType.EMAIL, values["email"], "rectify")
        return sum(
            1
            for s in found
            if s.name
            and names_match(name, s.name)
            and all(getattr(s, k) == v for k, v in values.items())
        )

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
