"""The registrar connector: registry contacts, domain registrations and the registry change log,
through the registrar platform's admin API.

Rules it applies (the company's policy and the registries' terms):
- A contact with a role (registrant, admin, tech) on an ACTIVE domain is needed to keep that
  registration (contract, GDPR art. 6.1 b): it is retained until the latest expiry of those
  domains, and its public RDAP/WHOIS output is redacted. Its active domains and its registry log
  are retained with it.
- Contacts of only expired or deleted (pendingDelete) domains are deleted, and those lapsed
  registrations with them. Their registry log entries then name a handle that leads to nobody:
  they are reported as anonymised.
- Every change to a contact a registry holds (redaction, deletion, rectification, restriction)
  is pushed to that registry by the platform; the connector returns each as a
  `RecipientNotification` with the registry's reference (GDPR Art. 19).
- One identifier that leads to two different holders, or a name that does not match, makes the
  subject ambiguous: reported by locate, refused by every other operation.

Nothing personal is logged or put into an error message; the erasure evidence names handles and
registry references only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from connectors.base import (
    AmbiguousSubject,
    ConfigurationError,
    Connector,
    DataCategory,
    ExportSink,
    Operation,
    Recipient,
    SystemUnavailable,
    load_settings,
)
from connectors.base.matching import normalise_email, normalise_phone, split_changes
from connectors.registrar._api import Change, Contact, Domain, RegistryUpdate
from connectors.registrar._client import RegistrarClient
from connectors.registrar._concurrency import run_all, run_both
from connectors.registrar._errors import SinkFailure, unexpected_response
from connectors.registrar._matching import (
    SEARCH_FIELDS,
    Match,
    ambiguity,
    holder,
    normalise,
)
from connectors.registrar._records import (
    RECIPIENT_OF,
    contact_record,
    domain_record,
    update_record,
)
from connectors.registrar._settings import RegistrarSettings
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.plan import PlanAction, SystemPlan
from schemas.results import (
    EraseResult,
    ExportResult,
    LocateResult,
    RecipientNotification,
    RecordFacts,
    RectifyResult,
    RestrictResult,
)
from schemas.status import RetainedItem
from schemas.subject import Identifier, SubjectRef

__all__ = ["CONTRACT_LEGAL_BASIS", "RECTIFIABLE_FIELDS", "RegistrarConnector"]

log = logging.getLogger("connectors.registrar")

CONTRACT_LEGAL_BASIS = "Avtal (GDPR art. 6.1 b): domain registration"
RECTIFIABLE_FIELDS = ("name", "email", "phone", "street", "postcode", "city", "country")

_CATEGORY_NAMES = ("contacts", "domains", "registry_updates")
_HANDLES_PER_CALL = 100  # the platform's limit of handles per list request
_EVIDENCE_HANDLES = 20  # handles named in the evidence; more are counted
_HOLDER_ROLES = frozenset({"registrant", "admin"})  # roles whose domains are the subject's own
_POSTCODE_DIGITS = 5


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _HANDLES_PER_CALL):
        yield values[start : start + _HANDLES_PER_CALL]


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts)


def _notifications(updates: Iterable[RegistryUpdate]) -> list[RecipientNotification]:
    return [
        RecipientNotification(
            recipient=RECIPIENT_OF.get(u.registry, f"{u.registry}-registry"),
            action=u.action,
            reference=u.reference,
        )
        for u in updates
    ]


def _sorted(notes: list[RecipientNotification]) -> list[RecipientNotification]:
    return sorted(notes, key=lambda n: (n.recipient, n.reference))


async def _write(sink: ExportSink, category: str, record: dict[str, object]) -> None:
    try:
        await sink.write(category, record)
    except Exception as exc:
        raise SinkFailure(exc) from exc


@dataclass
class _ErasePlan:
    """What erasure keeps: contacts on active domains, those domains, their latest expiry."""

    retained: set[str] = field(default_factory=set)
    active_domains: int = 0
    until: datetime | None = None
    lapsed: list[str] = field(default_factory=list)


class RegistrarConnector(Connector):
    """Registrar / WHOIS: registry contacts, domain registrations, the registry change log."""

    name = "registrar"
    search_identifiers = frozenset(
        {
            IdentifierType.EMAIL,
            IdentifierType.CUSTOMER_NUMBER,
            IdentifierType.PERSONAL_IDENTITY_NUMBER,
            IdentifierType.ORGANISATION_NUMBER,
            IdentifierType.PHONE,
            IdentifierType.DOMAIN,
        }
    )
    categories = (
        DataCategory(
            name="contacts",
            description=(
                "Registry contacts (registrant, admin): name, organisation, personnummer or "
                "organisationsnummer, e-mail, phone, postal address, handle, whether the data "
                "is published in WHOIS/RDAP"
            ),
            purpose="Register and keep the customer's domain names (contract); the registries "
            "require the holder's data",
        ),
        DataCategory(
            name="domains",
            description="Domain registrations the subject holds a role on: name, registry, "
            "status, registration and expiry dates, roles",
            purpose="Register and keep the customer's domain names (contract)",
        ),
        DataCategory(
            name="registry_updates",
            description="Log of changes to the subject's contacts pushed to the registries: "
            "registry reference, action, names of the fields changed, time (no values)",
            purpose="Keep the registries' copies correct and prove that they were told of "
            "changes (GDPR Art. 19)",
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
        }
    )
    recipients = (
        Recipient(
            name="se-registry",
            description="Internetstiftelsen, registry of .se and .nu: holds the holder's and "
            "contacts' data and publishes it in WHOIS/RDAP unless it is redacted",
        ),
        Recipient(
            name="gtld-registry",
            description="Verisign, registry of .com: receives the contact data of .com "
            "registrations (as little as the registration needs)",
        ),
    )

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff: float = 0.2,
        max_retry_after: float = 30.0,
        page_size: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = RegistrarClient(
            base_url,
            api_token,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff=backoff,
            max_retry_after=max_retry_after,
            page_size=page_size,
            transport=transport,
        )

    def __repr__(self) -> str:
        return "RegistrarConnector()"

    @classmethod
    def from_settings(cls) -> Self:
        settings = load_settings(RegistrarSettings, "registrar")
        if not settings.base_url:
            raise ConfigurationError("DSR_REGISTRAR_BASE_URL is not set")
        if settings.api_token is None or not settings.api_token.get_secret_value():
            raise ConfigurationError("DSR_REGISTRAR_API_TOKEN is not set")
        return cls(
            settings.base_url,
            settings.api_token.get_secret_value(),
            timeout=settings.timeout,
            max_attempts=settings.max_attempts,
            backoff=settings.backoff,
            max_retry_after=settings.max_retry_after,
            page_size=settings.page_size,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

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
            Domain, "GET", _path("domains", name), operation=operation, allow_missing=True
        )
        if domain is None:
            return None, []
        handles = list(dict.fromkeys(r.handle for r in domain.roles if r.kind != "role"))
        found = await run_all(
            [
                self._client.model(
                    Contact, "GET", _path("contacts", h), operation=operation, allow_missing=True
                )
                for h in handles
            ]
        )
        return None, [contact for contact in found if contact is not None]

    async def _domains(self, handles: list[str], operation: str) -> AsyncIterator[Domain]:
        """Distinct domains the handles have roles on (with only their roles), page by page."""
        seen: set[str] = set()  # names only, and only across chunks of more than 100 handles
        chunks = list(_chunks(handles))
        for chunk in chunks:
            async for domain in self._client.pages(
                Domain, "GET", "/domains", operation=operation, params={"contact": chunk}
            ):
                if len(chunks) > 1:
                    if domain.name in seen:
                        continue
                    seen.add(domain.name)
                yield domain

    async def _updates(self, handles: list[str], operation: str) -> AsyncIterator[RegistryUpdate]:
        for chunk in _chunks(handles):
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
        for chunk in _chunks(handles):
            total += await self._client.total(
                "/registry/updates", operation=operation, params={"handle": chunk}
            )
        return total

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        if match.ambiguity:
            raise AmbiguousSubject(f"registrar refuses to {operation}: {match.ambiguity}")

    # --- locate ---------------------------------------------------------------------------

    async def locate(self, subject: SubjectRef) -> LocateResult:
        match = await self._match(subject, "locate")
        counts = dict.fromkeys(_CATEGORY_NAMES, 0)
        learned: list[Identifier] = []
        facts: list[RecordFacts] = []
        if match.contacts:
            counts["contacts"] = len(match.contacts)
            (counts["domains"], own_domains, facts), counts["registry_updates"] = await run_both(
                self._domain_summary(match, "locate"),
                self._update_count(match.handles, "locate"),
            )
            if counts["registry_updates"]:
                facts.append(
                    RecordFacts(
                        category="registry_updates",
                        count=counts["registry_updates"],
                        contract_active=any(f.contract_active for f in facts),
                    )
                )
            if match.ambiguity is None:
                learned = await self._learned(subject, match, own_domains)
        log.info(
            "registrar locate: %d contacts, ambiguous=%s, %d identifiers learned",
            counts["contacts"],
            match.ambiguity is not None,
            len(learned),
        )
        return LocateResult(
            system=self.name,
            counts=counts,
            learned=learned,
            ambiguous=match.ambiguity is not None,
            ambiguity_reason=match.ambiguity,
            facts=facts,
        )

    async def _domain_summary(
        self, match: Match, operation: str
    ) -> tuple[int, list[str], list[RecordFacts]]:
        """How many domains the handles have roles on, the names of those they hold
        (registrant or admin: the subject's own domain names, worth searching elsewhere), and
        the facts the policy needs: which contacts and domains serve a running registration,
        and until when (the latest expiry)."""
        count = 0
        own: list[str] = []
        plan = _ErasePlan()
        async for domain in self._domains(match.handles, operation):
            count += 1
            if any(r.role in _HOLDER_ROLES for r in domain.roles):
                own.append(domain.name)
            _note_domain(plan, domain)
        return count, own, _facts(match, plan)

    async def _learned(
        self, subject: SubjectRef, match: Match, own_domains: list[str]
    ) -> list[Identifier]:
        """Identifiers on the subject's contacts it did not bring, that lead only to them."""
        known = set(subject.identifiers)
        learned: list[Identifier] = []

        def new(kind: IdentifierType, value: str | None) -> Identifier | None:
            if not value:
                return None
            identifier = Identifier(type=kind, value=value)
            return None if identifier in known or identifier in learned else identifier

        contacts = match.ordered
        for contact in contacts:
            for kind, value in (
                (IdentifierType.CUSTOMER_NUMBER, contact.customer_number),
                (IdentifierType.PERSONAL_IDENTITY_NUMBER, contact.personal_identity_number),
                (IdentifierType.ORGANISATION_NUMBER, contact.organisation_number),
            ):
                if (identifier := new(kind, value)) is not None:
                    learned.append(identifier)
        # Shareable identifiers (a family's e-mail address) only when nobody else has them.
        shareable: list[Identifier] = []
        for contact in contacts:
            for kind, value in (
                (IdentifierType.EMAIL, contact.email.lower()),
                (IdentifierType.PHONE, contact.phone),
            ):
                identifier = new(kind, value)
                if identifier is not None and identifier not in shareable:
                    shareable.append(identifier)
        theirs = await run_all([self._only_theirs(i, match) for i in shareable])
        learned += [i for i, only in zip(shareable, theirs, strict=True) if only]
        for name in own_domains:
            if (identifier := new(IdentifierType.DOMAIN, name)) is not None:
                learned.append(identifier)
        return learned

    async def _only_theirs(self, identifier: Identifier, match: Match) -> bool:
        key = (SEARCH_FIELDS[identifier.type], identifier.value)
        found = match.searched.get(key)
        if found is None:
            found = [c async for c in self._search(*key, "locate")]
        holders = match.holders
        return all(holder(contact) in holders for contact in found)

    # --- export ---------------------------------------------------------------------------

    async def export(self, subject: SubjectRef, sink: ExportSink) -> ExportResult:
        counts = dict.fromkeys(_CATEGORY_NAMES, 0)
        try:
            match = await self._match(subject, "export")
            self._refuse_if_ambiguous(match, "export")
            for contact in match.ordered:
                await _write(sink, "contacts", contact_record(contact))
                counts["contacts"] += 1
            if match.contacts:
                async for domain in self._domains(match.handles, "export"):
                    await _write(sink, "domains", domain_record(domain))
                    counts["domains"] += 1
                async for update in self._updates(match.handles, "export"):
                    await _write(sink, "registry_updates", update_record(update))
                    counts["registry_updates"] += 1
        except SinkFailure as failure:  # the caller's own error: re-raise it as it was
            raise failure.original from failure.original.__cause__
        log.info("registrar export: %d records", sum(counts.values()))
        return ExportResult(system=self.name, counts=counts)

    # --- erase ----------------------------------------------------------------------------

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        """The plan's deletions: lapsed registrations and the contacts on no running one; the
        contacts the plan keeps (a running registration) are redacted in RDAP/WHOIS."""
        today = plan.created_on or date.min
        match = await self._match(subject, "erase")
        self._refuse_if_ambiguous(match, "erase")
        deleted = {"contacts": 0, "domains": 0}
        anonymised = {"registry_updates": 0}
        notified: list[RecipientNotification] = []
        found = await self._erase_plan(match)  # which records, now
        if not plan.acts_on("domains", PlanAction.DELETE):
            found.lapsed = []
        for name in found.lapsed:
            deleted["domains"] += await self._delete_domain(name)
        gone: list[str] = []
        deletable = plan.acts_on("contacts", PlanAction.DELETE)
        for handle in (h for h in match.handles if deletable and h not in found.retained):
            change = await self._delete_contact(handle)
            if change is not None:
                gone.append(handle)
                deleted["domains"] += change.domains_deleted
                notified += _notifications(change.registry_updates)
        deleted["contacts"] = len(gone)
        if gone:  # their log entries (the deletions' own included) now name nobody
            anonymised["registry_updates"] = await self._update_count(gone, "erase")
        redacted = 0
        for handle in sorted(found.retained if plan.retained else ()):
            change = await self._contact_change(handle, "redact", "erase")
            if change.changed:
                redacted += 1
                notified += _notifications(change.registry_updates)
        retained = plan.retained_items()
        log.info(
            "registrar erase: %d contacts deleted, %d retained (%d redacted), %d domains "
            "deleted, %d registry notifications",
            deleted["contacts"],
            len(found.retained),
            redacted,
            deleted["domains"],
            len(notified),
        )
        notified = _sorted(notified)
        return EraseResult(
            system=self.name,
            deleted=deleted,
            anonymised=anonymised,
            retained=retained,
            evidence=_evidence(match.handles, deleted, redacted, retained, notified, today),
            notified=notified,
        )

    async def _erase_plan(self, match: Match) -> _ErasePlan:
        plan = _ErasePlan()
        if not match.contacts:
            return plan
        async for domain in self._domains(match.handles, "erase"):
            _note_domain(plan, domain)
        return plan

    async def _delete_domain(self, name: str) -> int:
        """1 if the lapsed registration was deleted now, 0 if it was gone already."""
        response = await self._client.request(
            "DELETE", _path("domains", name), operation="erase", allow=frozenset({404, 409})
        )
        if response.status_code == 409:  # renewed since the plan was made
            raise SystemUnavailable("registrar: a registration changed during erase; retry")
        return 0 if response.status_code == 404 else 1

    async def _delete_contact(self, handle: str) -> Change | None:
        response = await self._client.request(
            "DELETE", _path("contacts", handle), operation="erase", allow=frozenset({404, 409})
        )
        if response.status_code == 409:  # took a role on an active domain since the plan
            raise SystemUnavailable("registrar: a contact changed during erase; retry")
        if response.status_code == 404:
            # Deleted already, e.g. by an earlier attempt whose answer was lost: the registry
            # log still holds the notifications of that deletion.
            done = [u async for u in self._updates([handle], "erase") if u.action == "delete"]
            return Change(changed=True, registry_updates=done) if done else None
        try:
            return Change.model_validate_json(response.content)
        except ValidationError:
            raise unexpected_response("erase") from None

    async def _contact_change(self, handle: str, action: str, operation: str) -> Change:
        change = await self._client.model(
            Change,
            "POST",
            _path("contacts", handle, action),
            operation=operation,
            allow_missing=True,
        )
        if change is None:  # deleted since the plan was made
            raise SystemUnavailable(f"registrar: a contact changed during {operation}; retry")
        return change

    # --- rectify and restrict -------------------------------------------------------------

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        values, rejected = split_changes(changes, _clean)
        match = await self._match(subject, "rectify")
        self._refuse_if_ambiguous(match, "rectify")
        changed = 0
        notified: list[RecipientNotification] = []
        if values:
            for handle in match.handles:
                result = await self._client.model(
                    Change,
                    "PATCH",
                    _path("contacts", handle),
                    operation="rectify",
                    body=values,
                    allow_missing=True,
                )
                if result is not None and result.changed:
                    changed += 1
                    notified += _notifications(result.registry_updates)
        log.info(
            "registrar rectify: %d fields, %d rejected, %d contacts changed, %d notifications",
            len(values),
            len(rejected),
            changed,
            len(notified),
        )
        return RectifyResult(
            system=self.name,
            changed={"contacts": changed} if changed else {},
            rejected_fields=rejected,
            notified=_sorted(notified),
        )

    async def restrict(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, "restrict")

    async def lift_restriction(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, "lift_restriction")

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
                _path("contacts", handle, action),
                operation=operation,
                allow_missing=True,
            )
            if change is None:  # deleted since the lookup
                continue
            restricted += 1
            notified += _notifications(change.registry_updates)
        log.info(
            "registrar %s: %d contacts, %d notifications", operation, restricted, len(notified)
        )
        return RestrictResult(
            system=self.name,
            restricted={"contacts": restricted} if restricted else {},
            notified=_sorted(notified),
        )


def _evidence(
    handles: list[str],
    deleted: dict[str, int],
    redacted: int,
    retained: list[RetainedItem],
    notified: list[RecipientNotification],
    today: date,
) -> str:
    if not handles:
        return f"registrar erase on {today.isoformat()}: no contact matched"
    named = ", ".join(handles[:_EVIDENCE_HANDLES])
    if len(handles) > _EVIDENCE_HANDLES:
        named += f" and {len(handles) - _EVIDENCE_HANDLES} more"
    parts = [
        f"registrar erase on {today.isoformat()}: contacts {named}",
        "deleted: " + ", ".join(f"{k} {v}" for k, v in deleted.items()),
        f"redacted in public RDAP/WHOIS: {redacted} contacts",
    ]
    for item in retained:
        until = item.until.isoformat() if item.until else "while the reason lasts"
        parts.append(f"retained: {item.category} {item.count} until {until} ({item.legal_basis})")
    if notified:
        parts.append(
            "registries notified: "
            + ", ".join(f"{n.recipient} {n.action} {n.reference}" for n in notified)
        )
    return "; ".join(parts)


def _clean(field_name: str, value: str) -> str | None:
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
        if len(digits) != _POSTCODE_DIGITS or not digits.isdigit() or digits[0] == "0":
            return None
        return f"{digits[:3]} {digits[3:]}"
    if field_name == "country":
        return value.upper() if len(value) == 2 and value.isalpha() and value.isascii() else None
    limit = 100 if field_name == "city" else 200
    return " ".join(value.split()) if len(value) <= limit else None


def _note_domain(plan: _ErasePlan, domain: Domain) -> None:
    """A running registration keeps its contacts (contract); a lapsed one can go."""
    if domain.status == "active":
        plan.active_domains += 1
        plan.retained.update(r.handle for r in domain.roles)
        if plan.until is None or domain.expires_at > plan.until:
            plan.until = domain.expires_at
    else:
        plan.lapsed.append(domain.name)


def _facts(match: Match, plan: _ErasePlan) -> list[RecordFacts]:
    """Contacts and domains grouped by whether they serve a running registration (and its
    latest expiry): what the policy's contract rule needs. No refs: handles and domain names
    are not opaque, and a contract's end is re-examined, never timed."""
    until = plan.until.date() if plan.until is not None else None
    kept = sum(1 for h in match.handles if h in plan.retained)
    facts = [
        RecordFacts(category="contacts", count=kept, contract_active=True, contract_end=until),
        RecordFacts(category="contacts", count=len(match.handles) - kept, contract_active=False),
        RecordFacts(
            category="domains", count=plan.active_domains, contract_active=True, contract_end=until
        ),
        RecordFacts(category="domains", count=len(plan.lapsed), contract_active=False),
    ]
    return [f for f in facts if f.count]
