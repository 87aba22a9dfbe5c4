"""Rectification (Art. 16) and restriction (Art. 18) in billing."""

from __future__ import annotations

import logging
import re

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.base import (
    Connector,
)
from connectors.base.matching import (
    match_to_rectify,
    normalise_email,
    normalise_phone,
    split_rectification,
)
from connectors.billing._errors import translate_errors
from connectors.billing._matching import (
    Match,
    chunks,
)
from connectors.billing._tables import customers
from schemas.events import FieldChange
from schemas.results import (
    RectifyResult,
    RestrictResult,
)
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.billing")

RECTIFIABLE_FIELDS = ("name", "email", "phone", "street", "postcode", "city")
# Held, but changed only by a person: the identity numbers the invoices were issued under.
HELD_NOT_RECTIFIED = ("personal_identity_number", "organisation_number")
_POSTCODE = re.compile(r"^[1-9][0-9]{2} ?[0-9]{2}$")  # rectified postcodes: NNN NN


def _clean(field_name: str, value: str) -> str | None:
    """A rectified value as the billing database stores it, or None if it is not acceptable."""
    value = value.strip()
    if field_name not in RECTIFIABLE_FIELDS or not value:
        return None
    if field_name == "email":
        return normalise_email(value)
    if field_name == "phone":
        return normalise_phone(value)
    if field_name == "postcode":
        if not _POSTCODE.match(value):
            return None
        digits = value.replace(" ", "")
        return f"{digits[:3]} {digits[3:]}"
    limit = 100 if field_name == "city" else 200
    return " ".join(value.split()) if len(value) <= limit else None


class ChangesMixin(Connector):
    """BillingConnector's rectify and restrict (it supplies matching and the engine)."""

    _engine: AsyncEngine

    async def _match(self, conn: AsyncConnection, subject: SubjectRef) -> Match:
        raise NotImplementedError

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        raise NotImplementedError

    # --- rectify and restrict -------------------------------------------------------------

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        split = split_rectification(
            changes, _clean, rectifiable=RECTIFIABLE_FIELDS, held=HELD_NOT_RECTIFIED
        )
        values = split.values
        changed: dict[str, int] = {}
        with translate_errors("rectify"):
            async with self._engine.begin() as conn:
                match = await match_to_rectify(
                    subject, values, lambda s: self._match(conn, s), lambda m: m.ambiguity
                )
                self._refuse_if_ambiguous(match, "rectify")
                live = match.live
                if values and live:
                    rows = 0
                    for kind in ("person", "company"):
                        ids = [row.id for row in live if row.kind == kind]
                        if not ids:
                            continue
                        update_values = dict(values)
                        if kind == "company" and "name" in update_values:
                            # the data subject of a company customer is its contact person
                            update_values["contact_name"] = update_values.pop("name")
                        for chunk in chunks(ids):
                            rows += (
                                await conn.execute(
                                    update(customers)
                                    .where(customers.c.id.in_(chunk))
                                    .values(**update_values)
                                )
                            ).rowcount
                    changed["contact"] = rows
        log.info(
            "billing rectify: %d fields, %d not held, %d refused, %d for a person",
            len(values),
            len(split.not_held),
            len(split.refused),
            len(split.unchanged),
        )
        return RectifyResult(
            system=self.name,
            changed=changed,
            rejected_fields=split.not_held,
            refused_fields=split.refused,
            unchanged_fields=split.unchanged,
        )

    async def restrict(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, restricted=True, operation="restrict")

    async def lift_restriction(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, restricted=False, operation="lift_restriction")

    async def _set_restricted(
        self, subject: SubjectRef, *, restricted: bool, operation: str
    ) -> RestrictResult:
        with translate_errors(operation):
            async with self._engine.begin() as conn:
                match = await self._match(conn, subject)
                self._refuse_if_ambiguous(match, operation.replace("_", " "))
                for chunk in chunks(match.ids):
                    await conn.execute(
                        update(customers)
                        .where(customers.c.id.in_(chunk))
                        .values(restricted=restricted)
                    )
        log.info("billing %s: %d customer rows", operation, len(match.rows))
        return RestrictResult(
            system=self.name, restricted={"contact": len(match.rows)} if match.rows else {}
        )
