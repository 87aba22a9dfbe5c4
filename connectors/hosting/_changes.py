"""Rectification (Art. 16) and restriction (Art. 18) in hosting."""

from __future__ import annotations

import logging

from sqlalchemy import update

from connectors.base.matching import match_to_rectify, normalise_phone, split_rectification
from connectors.hosting._common import (
    HostingBase,
)
from connectors.hosting._matching import (
    normalise,
)
from connectors.hosting._tables import (
    accounts,
)
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.results import (
    RectifyResult,
    RestrictResult,
)
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.hosting")

RECTIFIABLE_FIELDS = {"name": "owner_name", "email": "email", "phone": "phone"}


def _clean(field_name: str, value: str) -> str | None:
    """A rectified value as the panel stores it, or None if it is not acceptable."""
    value = value.strip()
    if field_name not in RECTIFIABLE_FIELDS or not value:
        return None
    if field_name == "email":
        return normalise(IdentifierType.EMAIL, value)
    if field_name == "phone":
        return normalise_phone(value)
    return " ".join(value.split()) if len(value) <= 200 else None


class ChangesMixin(HostingBase):
    """HostingConnector's rectify and restrict (it supplies matching and the engine)."""

    # --- rectify and restrict -------------------------------------------------------------

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        split = split_rectification(changes, _clean, rectifiable=RECTIFIABLE_FIELDS)
        values = {RECTIFIABLE_FIELDS[field]: value for field, value in split.values.items()}

        async def run() -> int:
            async with self._engine.begin() as conn:
                match = await match_to_rectify(
                    subject, split.values, lambda s: self._match(conn, s), lambda m: m.ambiguity
                )
                self._refuse_if_ambiguous(match, "rectify")
                if not values or not match.ids:
                    return 0
                await conn.execute(
                    update(accounts).where(accounts.c.id.in_(match.ids)).values(**values)
                )
                return len(match.ids)

        changed = await self._run("rectify", run)
        log.info(
            "hosting rectify: %d fields on %d accounts, %d not held, %d refused",
            len(values),
            changed,
            len(split.not_held),
            len(split.refused),
        )
        return RectifyResult(
            system=self.name,
            changed={"account": changed} if changed else {},
            rejected_fields=split.not_held,
            refused_fields=split.refused,
        )

    async def restrict(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, restricted=True, operation="restrict")

    async def lift_restriction(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, restricted=False, operation="lift_restriction")

    async def _set_restricted(
        self, subject: SubjectRef, *, restricted: bool, operation: str
    ) -> RestrictResult:
        async def run() -> int:
            async with self._engine.begin() as conn:
                match = await self._match(conn, subject)
                self._refuse_if_ambiguous(match, operation.replace("_", " "))
                if match.ids:
                    await conn.execute(
                        update(accounts)
                        .where(accounts.c.id.in_(match.ids))
                        .values(restricted=restricted)
                    )
                return len(match.ids)

        count = await self._run(operation, run)
        log.info("hosting %s: %d accounts", operation, count)
        return RestrictResult(system=self.name, restricted={"account": count} if count else {})
