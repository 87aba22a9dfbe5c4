"""Who the subject is at the help desk: the users its identifiers lead to, whether they are one
person, and what else the desk knows to identify them by.

The desk has no identity number, so the name is what tells people apart: an identifier that
leads to a user with another name than the one given (unless it is the user's company), or
identifiers leading to users with different names, make the subject ambiguous. Then nothing is
exported, erased or changed, and no identifier of somebody else is passed on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.base.matching import names_match
from connectors.support._desk import Desk
from connectors.support._identity import SEARCH_FIELDS, normalise
from connectors.support._models import ApiUser
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

__all__ = ["Match", "learned_identifiers", "match_subject"]


@dataclass
class Match:
    users: dict[int, ApiUser] = field(default_factory=dict)
    hits: list[tuple[IdentifierType, list[int]]] = field(default_factory=list)
    ambiguity: str | None = None
    # Where kept tickets are filed: the subject's customer numbers and those of its users.
    customer_numbers: list[str] = field(default_factory=list)

    @property
    def ordered(self) -> list[ApiUser]:
        return [self.users[i] for i in sorted(self.users)]


async def match_subject(desk: Desk, subject: SubjectRef) -> Match:
    """Search by every identifier the desk knows (in parallel), and judge the result."""
    lookups = list(
        dict.fromkeys(
            (identifier.type, value)
            for identifier in subject.identifiers
            if identifier.type in SEARCH_FIELDS
            and (value := normalise(identifier.type, identifier.value)) is not None
        )
    )

    async def search(lookup: tuple[IdentifierType, str]) -> list[ApiUser]:
        return await desk.search(*lookup)

    match = Match()
    for (kind, _), users in zip(lookups, await desk.map(search, lookups), strict=True):
        for user in users:
            match.users[user.id] = user
        match.hits.append((kind, [u.id for u in users]))
    numbers = [value for kind, value in lookups if kind is IdentifierType.CUSTOMER_NUMBER]
    for user in match.ordered:
        number = normalise(IdentifierType.CUSTOMER_NUMBER, user.external_id or "")
        if number:
            numbers.append(number)
    match.customer_numbers = list(dict.fromkeys(numbers))
    match.ambiguity = await _ambiguity(desk, subject, match)
    return match


async def _ambiguity(desk: Desk, subject: SubjectRef, match: Match) -> str | None:
    """Why the identifiers do not lead to exactly one person, in words without personal data."""
    if subject.name:
        for kind, ids in match.hits:
            for user_id in ids:
                user = match.users[user_id]
                if not names_match(subject.name, user.name) and not await _company_is(
                    desk, subject.name, user
                ):
                    return f"{kind.value} matches a user whose name differs from the name given"
    users = match.ordered
    for n, first in enumerate(users):
        for second in users[n + 1 :]:
            if not names_match(first.name, second.name):
                return f"the identifiers given match {len(users)} users with different names"
    return None


async def _company_is(desk: Desk, name: str, user: ApiUser) -> bool:
    """A company customer may be named by the company rather than its contact person."""
    organization = await desk.organization(user)
    return organization is not None and names_match(name, organization.name)


async def learned_identifiers(desk: Desk, subject: SubjectRef, match: Match) -> list[Identifier]:
    """Identifiers on the matched users the subject did not bring. A phone number is passed on
    only if every user it leads to has the subject's name: a shared number is not theirs."""
    if match.ambiguity:
        return []
    known = set(subject.identifiers)
    learned: list[Identifier] = []
    for user in match.ordered:
        for kind, raw in (
            (IdentifierType.CUSTOMER_NUMBER, user.external_id),
            (IdentifierType.EMAIL, user.email),
            (IdentifierType.PHONE, user.phone),
        ):
            value = normalise(kind, raw) if raw else None
            if value is None:
                continue
            identifier = Identifier(type=kind, value=value)
            if identifier in known or identifier in learned:
                continue
            if kind is IdentifierType.PHONE and not await _only_theirs(desk, value, match):
                continue
            learned.append(identifier)
    return learned


async def _only_theirs(desk: Desk, phone: str, match: Match) -> bool:
    names = [u.name for u in match.users.values()]
    for other in await desk.search(IdentifierType.PHONE, phone):
        if other.id not in match.users and not all(names_match(other.name, n) for n in names):
            return False
    return True
