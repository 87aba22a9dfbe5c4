"""Rectification, restriction and consent withdrawal at the registrar, told to the registries."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from connectors.base import first_asked
from connectors.base.matching import (
    match_to_rectify,
    normalise_email,
    normalise_phone,
    split_rectification,
)
from connectors.registrar._api import Change, RegistryUpdate
from connectors.registrar._base import (
    HELD_NOT_RECTIFIED,
    POSTCODE_DIGITS,
    RECTIFIABLE_FIELDS,
    RegistrarBase,
    notifications,
    path,
    sorted_notes,
)
from schemas.events import FieldChange
from schemas.results import (
    RecipientNotification,
    RectifyResult,
    RestrictResult,
    UnsubscribeResult,
)
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.registrar")


def _aware(at: datetime) -> datetime:
    """The platform's times are UTC; a naive one is read as such."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def clean(field_name: str, value: str) -> str | None:
    """A rectified value as the registrar stores it, or None if it is not acceptable."""
    value = value.strip()
    if field_name not in RECTIFIABLE_FIELDS or not value:
        return None
    if field_name == "email":
        return normalise_email(value)
    if field_name == "phone":
        return normalise_phone(value)
    if field_name == "postcode":
        digits = value.replace(" ", "")
        if len(digits) != POSTCODE_DIGITS or not digits.isdigit() or digits[0] == "0":
            return None
        return f"{digits[:3]} {digits[3:]}"
    if field_name == "country":
        return value.upper() if len(value) == 2 and value.isalpha() and value.isascii() else None
    limit = 100 if field_name == "city" else 200
    return " ".join(value.split()) if len(value) <= limit else None


class ChangesMixin(RegistrarBase):
    # --- rectify and restrict -------------------------------------------------------------

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        """Idempotent: a contact that already holds the values (a retried activity whose first
        attempt changed it, or one changed before its failure) counts as rectified, and the
        registry updates that recorded those fields are its Art. 19 proof, as on first try."""
        split = split_rectification(
            changes, clean, rectifiable=RECTIFIABLE_FIELDS, held=HELD_NOT_RECTIFIED
        )
        values = split.values
        match = await match_to_rectify(
            subject, values, lambda s: self._match(s, "rectify"), lambda m: m.ambiguity
        )
        self._refuse_if_ambiguous(match, "rectify")
        changed = 0
        notified: list[RecipientNotification] = []
        if values:
            for handle in match.handles:
                result = await self._client.model(
                    Change,
                    "PATCH",
                    path("contacts", handle),
                    operation="rectify",
                    body=values,
                    allow_missing=True,
                )
                if result is None:  # deleted since the lookup
                    continue
                changed += 1
                if result.changed:
                    notified += notifications(result.registry_updates)
                else:
                    notified += notifications(await self._recorded(handle, set(values)))
        log.info(
            "registrar rectify: %d fields, %d not held, %d refused, %d contacts, %d notifications",
            len(values),
            len(split.not_held),
            len(split.refused),
            changed,
            len(notified),
        )
        return RectifyResult(
            system=self.name,
            changed={"contacts": changed} if changed else {},
            rejected_fields=split.not_held,
            refused_fields=split.refused,
            unchanged_fields=split.unchanged,
            notified=sorted_notes(notified),
        )

    async def _recorded(self, handle: str, fields: set[str]) -> list[RegistryUpdate]:
        """Each registry's latest update of the contact that carried any of `fields`, made by
        this operation (since it was first asked for, `first_asked`): an earlier request's
        update of the same fields is not this one's proof. Outside an activity: none."""
        since = first_asked()
        if since is None:
            return []
        latest: dict[str, RegistryUpdate] = {}
        async for update in self._updates([handle], "rectify"):
            if update.action != "update" or not fields & set(update.fields):
                continue
            if _aware(update.created_at) < since:
                continue
            kept = latest.get(update.registry)
            if kept is None or update.created_at >= kept.created_at:
                latest[update.registry] = update
        return [latest[registry] for registry in sorted(latest)]

    async def restrict(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, "restrict")

    async def lift_restriction(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, "lift_restriction")

    async def unsubscribe(self, subject: SubjectRef) -> UnsubscribeResult:
        """Consent withdrawal (Art. 7(3)): a private holder's data is published in WHOIS/RDAP
        only because they opted in, so their person contacts are redacted there (pushed to the
        registries). An organisation's contacts, its contact person's included, are published
        by the registries' rules for organisations, not by consent, and stay. The registration
        itself rests on the contract and is untouched. Idempotent: a contact redacted by an
        earlier attempt is counted from the registry update that recorded it."""
        match = await self._match(subject, "unsubscribe")
        self._refuse_if_ambiguous(match, "unsubscribe")
        stopped = 0
        for contact in match.ordered:
            if contact.kind != "person" or contact.organisation:  # a company's: not by consent
                continue
            change = await self._client.model(
                Change,
                "POST",
                path("contacts", contact.handle, "redact"),
                operation="unsubscribe",
                allow_missing=True,
            )
            if change is not None and (change.changed or change.registry_updates):
                stopped += 1
        log.info("registrar unsubscribe: %d published contacts redacted", stopped)
        return UnsubscribeResult(
            system=self.name, unsubscribed={"contacts": stopped} if stopped else {}
        )

    async def _set_restricted(self, subject: SubjectRef, operation: str) -> RestrictResult:
        """Idempotent: the platform answers a repeated call with the registry updates that
        recorded the state, so the result (references included) is the same every time."""
        match = await self._match(subject, operation)
        self._refuse_if_ambiguous(match, operation.replace("_", " "))
        action = "restrict" if operation == "restrict" else "lift-restriction"
        restricted = 0
        notified: list[RecipientNotification] = []
        for handle in match.handles:
            change = await self._client.model(
                Change,
                "POST",
                path("contacts", handle, action),
                operation=operation,
                allow_missing=True,
            )
            if change is None:  # deleted since the lookup
                continue
            restricted += 1
            notified += notifications(change.registry_updates)
        log.info(
            "registrar %s: %d contacts, %d notifications", operation, restricted, len(notified)
        )
        return RestrictResult(
            system=self.name,
            restricted={"contacts": restricted} if restricted else {},
            notified=sorted_notes(notified),
        )
