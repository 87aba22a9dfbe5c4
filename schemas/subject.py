"""The subject as connectors see it: a growing set of typed identifiers (personal data inside).

This model travels through Temporal only inside encrypted payloads, never in ids or attributes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.events import Subject
from schemas.identifiers import IdentifierType

__all__ = ["Identifier", "SubjectRef"]


class Identifier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: IdentifierType
    value: str

    def __str__(self) -> str:
        # Never render the value: identifiers are personal data and str() ends up in logs.
        return f"Identifier({self.type.value})"

    __repr__ = __str__


class SubjectRef(BaseModel):
    """All identifiers known for the subject, plus the name given (used to detect ambiguity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identifiers: tuple[Identifier, ...]
    name: str | None = None

    def __repr__(self) -> str:
        return f"SubjectRef({len(self.identifiers)} identifiers)"

    __str__ = __repr__

    @classmethod
    def from_subject(cls, subject: Subject) -> SubjectRef:
        found: list[Identifier] = []
        if subject.email:
            found.append(Identifier(type=IdentifierType.EMAIL, value=subject.email.lower()))
        if subject.customer_number:
            found.append(
                Identifier(type=IdentifierType.CUSTOMER_NUMBER, value=subject.customer_number)
            )
        if subject.personal_identity_number:
            found.append(
                Identifier(
                    type=IdentifierType.PERSONAL_IDENTITY_NUMBER,
                    value=subject.personal_identity_number,
                )
            )
        if subject.organisation_number:
            found.append(
                Identifier(
                    type=IdentifierType.ORGANISATION_NUMBER, value=subject.organisation_number
                )
            )
        if subject.phone:
            found.append(Identifier(type=IdentifierType.PHONE, value=subject.phone))
        found.extend(Identifier(type=IdentifierType.DOMAIN, value=d) for d in subject.domains)
        return cls(identifiers=tuple(dict.fromkeys(found)), name=subject.name)

    def values(self, kind: IdentifierType) -> list[str]:
        return [i.value for i in self.identifiers if i.type is kind]

    def merged(self, more: tuple[Identifier, ...] | list[Identifier]) -> SubjectRef:
        """A new ref with `more` added; order kept, duplicates dropped."""
        combined = tuple(dict.fromkeys((*self.identifiers, *more)))
        return self.model_copy(update={"identifiers": combined})
