"""The registrar connector: registry contacts, domain registrations and the registry change log,
through the registrar platform's admin API.

Rules it applies (the company's policy and the registries' terms):
- A contact with a role (registrant, admin, tech) on an ACTIVE domain is needed to keep that
  registration (contract, GDPR art. 6.1 b): it is retained until the latest expiry of those
  domains, and its public RDAP/WHOIS output is redacted. Its active domains and its registry log
  are retained with it.
- Contacts of only expired or deleted (pendingDelete) domains are deleted. Their registry log
  entries then name a handle that leads to nobody: they are reported as anonymised.
- A lapsed registration the subject has a role on is deleted only if the subject is the only
  customer behind it: every contact on it that is a customer's (the registrar's own role
  accounts aside) is one of the subject's. On one another customer is behind (the subject is
  its tech or admin contact, say) only the subject's roles are removed, reported as domains
  anonymised; the registration stays with that customer's contacts.
- The subject's domains are read with the subject's own roles only: another customer's
  contacts on a domain (its holder's name, e-mail, handle) are never exported to the subject,
  and only domains the subject holds (registrant, admin) are learned as identifiers.
- Every change to a contact a registry holds (redaction, deletion, rectification, restriction)
  is pushed to that registry by the platform; the connector returns each as a
  `RecipientNotification` with the registry's reference (GDPR Art. 19).
- A private holder's data is published in WHOIS/RDAP only with their consent: a consent
  withdrawal (`unsubscribe`) redacts the subject's person contacts there, pushed to the
  registries; the registrations stay (they rest on the contract).
- One identifier that leads to two different holders, or a name that does not match, makes the
  subject ambiguous: reported by locate, refused by every other operation.

Nothing personal is logged or put into an error message; the erasure evidence names handles and
registry references only.
"""

from __future__ import annotations

import logging
from typing import Self

import httpx

from connectors.base import (
    ConfigurationError,
    DataCategory,
    ExportSink,
    Operation,
    Recipient,
    load_settings,
)
from connectors.base.retry import RetryPolicy
from connectors.registrar._base import (
    CATEGORY_NAMES,
    CONTRACT_LEGAL_BASIS,
    HOLDER_ROLES,
    RECTIFIABLE_FIELDS,
    RegistrarBase,
    write,
)
from connectors.registrar._changes import ChangesMixin
from connectors.registrar._client import RegistrarClient
from connectors.registrar._concurrency import run_all, run_both
from connectors.registrar._erasure import ErasePlan, ErasureMixin, facts_of, note_domain
from connectors.registrar._errors import SinkFailure
from connectors.registrar._matching import (
    SEARCH_FIELDS,
    Match,
    holder,
)
from connectors.registrar._records import (
    contact_record,
    domain_record,
    update_record,
)
from connectors.registrar._settings import RegistrarSettings
from schemas.identifiers import IdentifierType
from schemas.results import (
    ExportResult,
    LocateResult,
    RecordFacts,
)
from schemas.subject import Identifier, SubjectRef

__all__ = ["CONTRACT_LEGAL_BASIS", "RECTIFIABLE_FIELDS", "RegistrarConnector"]

log = logging.getLogger("connectors.registrar")


class RegistrarConnector(ErasureMixin, ChangesMixin, RegistrarBase):
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
            "status, registration and expiry dates, the subject's roles",
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
            Operation.UNSUBSCRIBE,
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
        connect_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = RegistrarClient(
            base_url,
            api_token,
            timeout=timeout,
            connect_timeout=connect_timeout,
            retry=retry or RetryPolicy(),
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
            connect_timeout=settings.connect_timeout,
            retry=settings.retry_policy(),
            page_size=settings.page_size,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- locate ---------------------------------------------------------------------------

    async def locate(self, subject: SubjectRef) -> LocateResult:
        match = await self._match(subject, "locate")
        counts = dict.fromkeys(CATEGORY_NAMES, 0)
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
        plan = ErasePlan()
        async for domain in self._domains(match.handles, operation):
            count += 1
            if any(r.role in HOLDER_ROLES for r in domain.roles):
                own.append(domain.name)
            note_domain(plan, domain)
        return count, own, facts_of(match, plan)

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
        counts = dict.fromkeys(CATEGORY_NAMES, 0)
        try:
            match = await self._match(subject, "export")
            self._refuse_if_ambiguous(match, "export")
            for contact in match.ordered:
                await write(sink, "contacts", contact_record(contact))
                counts["contacts"] += 1
            if match.contacts:
                async for domain in self._domains(match.handles, "export"):
                    await write(sink, "domains", domain_record(domain))
                    counts["domains"] += 1
                async for update in self._updates(match.handles, "export"):
                    await write(sink, "registry_updates", update_record(update))
                    counts["registry_updates"] += 1
        except SinkFailure as failure:  # the caller's own error: re-raise it as it was
            raise failure.original from failure.original.__cause__
        log.info("registrar export: %d records", sum(counts.values()))
        return ExportResult(system=self.name, counts=counts)
