"""What the registrar connector's modules share: constants, helpers, and finding the subject's
contacts, domains and registry log through the admin API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any
from urllib.parse import quote

from connectors.base import (
    AmbiguousSubject,
    Connector,
    ExportSink,
    SystemUnavailable,
)
from connectors.registrar._api import Change, Contact, Domain, RegistryUpdate
from connectors.registrar._client import RegistrarClient
from connectors.registrar._concurrency import run_all
from connectors.registrar._errors import SinkFailure
from connectors.registrar._matching import (
    SEARCH_FIELDS,
    Match,
    ambiguity,
    normalise,
)
from connectors.registrar._records import (
    RECIPIENT_OF,
)
from schemas.identifiers import IdentifierType
from schemas.results import (
    RecipientNotification,
)
from schemas.subject import Identifier, SubjectRef

log = logging.getLogger("connectors.registrar")

CONTRACT_LEGAL_BASIS = "Avtal (GDPR art. 6.1 b): domain registration"
RECTIFIABLE_FIELDS = ("name", "email", "phone", "street", "postcode", "city", "country")
# Held, but changed only by a person: a holder's identity number is the registration's own.
HELD_NOT_RECTIFIED = ("personal_identity_number", "organisation_number")

CATEGORY_NAMES = ("contacts", "domains", "registry_updates")
HANDLES_PER_CALL = 100  # the platform's limit of handles per list request
EVIDENCE_HANDLES = 20  # handles named in the evidence; more are counted
HOLDER_ROLES = frozenset({"registrant", "admin"})  # roles whose domains are the subject's own
POSTCODE_DIGITS = 5


def chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), HANDLES_PER_CALL):
        yield values[start : start + HANDLES_PER_CALL]


def path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts)


def notifications(updates: Iterable[RegistryUpdate]) -> list[RecipientNotification]:
    return [
        RecipientNotification(
            recipient=RECIPIENT_OF.get(u.registry, f"{u.registry}-registry"),
            action=u.action,
            reference=u.reference,
        )
        for u in updates
    ]


def sorted_notes(notes: list[RecipientNotification]) -> list[RecipientNotification]:
    return sorted(notes, key=lambda n: (n.recipient, n.reference))


async def write(sink: ExportSink, category: str, record: dict[str, object]) -> None:
    try:
        await sink.write(category, record)
    except Exception as exc:
        raise SinkFailure(exc) from exc


class RegistrarBase(Connector):
    """Matching and listing through the admin API; the operations are in the mixins."""

    _client: RegistrarClient

    # --- finding the subject --------------------------------------------------------------

    async def _match(self, subject: SubjectRef, operation: str) -> Match:
        """Every identifier looked up (concurrently), then checked for ambiguity."""
        lookups = [
            (identifier.type, lookup)
            for identifier in subject.identifiers
            if (lookup := self._lookup(identifier, operation)) is not None
        ]
        results = await run_all([call for _, call in lookups])
        match = Match()
        for (kind, _), (key, found) in zip(lookups, results, strict=True):
            for contact in found:
                match.contacts.setdefault(contact.handle, contact)
            match.hits.append((kind, [c.handle for c in found]))
            if key is not None:
                match.searched[key] = found
        match.ambiguity = ambiguity(subject, match)
        return match

    def _lookup(
        self, identifier: Identifier, operation: str
    ) -> Coroutine[Any, Any, tuple[tuple[str, str] | None, list[Contact]]] | None:
        """The lookup of one identifier: (its search key, the contacts found); None if it
        cannot be looked up here (another type, or a value that cannot be one)."""
        value = normalise(identifier.type, identifier.value)
        if value is None:
            return None
        if identifier.type is IdentifierType.DOMAIN:
            return self._contacts_of_domain(value, operation)
        if identifier.type in SEARCH_FIELDS:
            return self._searched(SEARCH_FIELDS[identifier.type], value, operation)
        return None

    async def _searched(
        self, field_name: str, value: str, operation: str
    ) -> tuple[tuple[str, str] | None, list[Contact]]:
        return (field_name, value), [c async for c in self._search(field_name, value, operation)]

    async def _search(self, field_name: str, value: str, operation: str) -> AsyncIterator[Contact]:
        """Contacts with `value` in `field_name`; the registrar's role accounts are no subject."""
        async for contact in self._client.pages(
            Contact,
            "POST",
            "/contacts/search",
            operation=operation,
            body={"field": field_name, "value": value},
        ):
            if contact.kind != "role":
                yield contact

    async def _contacts_of_domain(
        self, name: str, operation: str
    ) -> tuple[tuple[str, str] | None, list[Contact]]:
        domain = await self._client.model(
            Domain, "GET", path("domains", name), operation=operation, allow_missing=True
        )
        if domain is None:
            return None, []
        handles = list(dict.fromkeys(r.handle for r in domain.roles if r.kind != "role"))
        found = await run_all(
            [
                self._client.model(
                    Contact, "GET", path("contacts", h), operation=operation, allow_missing=True
                )
                for h in handles
            ]
        )
        return None, [contact for contact in found if contact is not None]

    async def _domains(self, handles: list[str], operation: str) -> AsyncIterator[Domain]:
        """Distinct domains the handles have roles on (with only their roles), page by page.

        Only the handles' own roles are handed on, whatever the platform answers: another
        customer's contacts on a domain (its holder, when the subject is only its tech contact)
        are that customer's data, never the subject's."""
        seen: set[str] = set()  # names only, and only across chunks of more than 100 handles
        parts = list(chunks(handles))
        for chunk in parts:
            own = set(chunk)
            async for domain in self._client.pages(
                Domain, "GET", "/domains", operation=operation, params={"contact": chunk}
            ):
                if len(parts) > 1:
                    if domain.name in seen:
                        continue
                    seen.add(domain.name)
                if any(r.handle not in own for r in domain.roles):
                    roles = [r for r in domain.roles if r.handle in own]
                    domain = domain.model_copy(update={"roles": roles})
                yield domain

    async def _updates(self, handles: list[str], operation: str) -> AsyncIterator[RegistryUpdate]:
        for chunk in chunks(handles):
            async for update in self._client.pages(
                RegistryUpdate,
                "GET",
                "/registry/updates",
                operation=operation,
                params={"handle": chunk},
            ):
                yield update

    async def _update_count(self, handles: list[str], operation: str) -> int:
        total = 0
        for chunk in chunks(handles):
            total += await self._client.total(
                "/registry/updates", operation=operation, params={"handle": chunk}
            )
        return total

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        if match.ambiguity:
            raise AmbiguousSubject(f"registrar refuses to {operation}: {match.ambiguity}")

    async def _contact_change(self, handle: str, action: str, operation: str) -> Change:
        change = await self._client.model(
            Change,
            "POST",
            path("contacts", handle, action),
            operation=operation,
            allow_missing=True,
        )
        if change is None:  # deleted since the plan was made
            raise SystemUnavailable(f"registrar: a contact changed during {operation}; retry")
        return change
