"""Who the subject is at the help desk: the users its identifiers lead to, whether they are one
person, and what else the desk knows to identify them by.

The users are the active ones the desk's search finds and the deleted ones not yet purged: a
deleted user keeps its name, e-mail and phone until it is purged, whether an erasure stopped
between the two steps of a deletion or an agent deleted it, so it is the subject's data held
all the same (counted, exported and purged; not rectified, the desk cannot change it).

Zendesk's search finds active users only, and its list of deleted users cannot be searched or
filtered (it takes no query parameter but the page's): the list is paged through once per match
(a request per 100 deleted users) and compared here with the identifiers, normalised as the
search normalises them, by e-mail and phone (Zendesk's deleted user has no `external_id`; one
is compared if the desk sends it). Each deleted user that matches is looked up again
(`GET /deleted_users/{id}`, which answers 404 once it is purged), because the list holds purged
users too, and Zendesk empties them of their data only a while after the purge.

The desk has no identity number, so the name is what tells people apart: an identifier that
leads to a user (active or deleted) with another name than the one given (unless it is the
user's company), or identifiers leading to users with different names, make the subject
ambiguous. Then nothing is exported, erased or changed, and no identifier of somebody else is
passed on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from connectors.base.matching import names_match
from connectors.support._desk import Desk
from connectors.support._identity import SEARCH_FIELDS, normalise
from connectors.support._models import ApiUser
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

__all__ = ["Match", "learned_identifiers", "match_subject"]


_Lookup = tuple[IdentifierType, str]


@dataclass
class Match:
    # Active and deleted (not yet purged) users, by id; `ApiUser.active` tells which.
    users: dict[int, ApiUser] = field(default_factory=dict)
    hits: list[tuple[IdentifierType, list[int]]] = field(default_factory=list)
    ambiguity: str | None = None
    # Where kept tickets are filed: the subject's customer numbers and those of its users.
    customer_numbers: list[str] = field(default_factory=list)

    @property
    def ordered(self) -> list[ApiUser]:
        return [self.users[i] for i in sorted(self.users)]

    @property
    def active(self) -> list[ApiUser]:
        """The users that are not deleted, in id order."""
        return [u for u in self.ordered if u.active]


async def match_subject(desk: Desk, subject: SubjectRef) -> Match:
    """Search by every identifier the desk knows (in parallel), look for them among the deleted
    users too, and judge the result."""
    lookups = list(
        dict.fromkeys(
            (identifier.type, value)
            for identifier in subject.identifiers
            if identifier.type in SEARCH_FIELDS
            and (value := normalise(identifier.type, identifier.value)) is not None
        )
    )

    async def search(lookup: _Lookup) -> list[ApiUser]:
        return await desk.search(*lookup)

    found, deleted = await asyncio.gather(desk.map(search, lookups), _deleted(desk, lookups))
    match = Match()
    for (kind, _), active, gone in zip(lookups, found, deleted, strict=True):
        seen = {u.id for u in active}
        users = active + [u for u in gone if u.id not in seen]
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


async def _deleted(desk: Desk, lookups: Sequence[_Lookup]) -> list[list[ApiUser]]:
    """For each lookup, the deleted users not yet purged it leads to (see the module doc)."""
    if not lookups:
        return []
    candidates: dict[int, ApiUser] = {}
    async for page in desk.deleted_users():
        for user in page:
            if _leads_to(lookups, user):
                candidates[user.id] = user

    shown = await desk.map(desk.deleted_user, sorted(candidates))
    current = [u for u in shown if u is not None]
    return [[u for u in current if _leads_to([lookup], u)] for lookup in lookups]


def _leads_to(lookups: Sequence[_Lookup], user: ApiUser) -> bool:
    """Whether one of the lookups would find `user` if the desk's search looked at it."""
    for kind, value in lookups:
        raw = getattr(user, SEARCH_FIELDS[kind])
        if isinstance(raw, str) and raw and normalise(kind, raw) == value:
            return True
    return False


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
    """Identifiers on the matched active users the subject did not bring (a deleted user is on
    its way out: nothing is learned from it). A phone number is passed on only if every user it
    leads to has the subject's name: a shared number is not theirs."""
    if match.ambiguity:
        return []
    known = set(subject.identifiers)
    learned: list[Identifier] = []
    for user in match.active:
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
