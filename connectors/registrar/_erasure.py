"""Erasure: the plan's deletions at the registrar, and the facts the policy needs."""

from __future__ import annotations

import logging
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pydantic import ValidationError

from connectors.base import (
    SystemUnavailable,
)
from connectors.registrar._api import Change, Domain, RoleRemoval
from connectors.registrar._base import (
    EVIDENCE_HANDLES,
    RegistrarBase,
    notifications,
    path,
    sorted_notes,
)
from connectors.registrar._errors import unexpected_response
from connectors.registrar._matching import (
    Match,
)
from policy.deadlines import local_date
from schemas.plan import PlanAction, SystemPlan
from schemas.results import (
    EraseResult,
    RecipientNotification,
    RecordFacts,
)
from schemas.status import RetainedItem
from schemas.subject import SubjectRef

log = logging.getLogger("connectors.registrar")


@dataclass
class ErasePlan:
    """What erasure keeps: contacts on active domains, those domains, their latest expiry; and
    the lapsed domains the subject has a role on, where the subject's part goes (the whole
    registration only if no other customer is behind it: `only_theirs`)."""

    retained: set[str] = field(default_factory=set)
    active_domains: int = 0
    until: datetime | None = None
    lapsed: list[str] = field(default_factory=list)


def note_domain(plan: ErasePlan, domain: Domain) -> None:
    """A running registration keeps its contacts (contract); a lapsed one can go. Which part of
    it goes is decided at erase, on all its contacts (`only_theirs`): the registration if the
    subject is the only customer behind it, else only the subject's roles on it."""
    if domain.status == "active":
        plan.active_domains += 1
        plan.retained.update(r.handle for r in domain.roles)
        if plan.until is None or domain.expires_at > plan.until:
            plan.until = domain.expires_at
    else:
        plan.lapsed.append(domain.name)


def only_theirs(domain: Domain, handles: Container[str]) -> bool:
    """Whether the subject is the only customer behind a registration: every contact on it
    that is a customer's (not one of the registrar's role accounts, e.g. its hostmaster) is one
    of the subject's handles. Read from all the domain's roles (`GET /domains/{name}`), not
    from the list of the subject's domains, which carries only the subject's own roles."""
    return all(r.handle in handles for r in domain.roles if r.kind != "role")


def expiry_day(expires_at: datetime) -> date:
    """The company's calendar day a registration expires on (`policy.deadlines.local_date`),
    the calendar the policy's "today" is in: one running to 2026-06-30T22:30Z still runs at
    00:10 on 1 July in Stockholm, so its contract ends on 1 July, not 30 June. Locate is given
    the subject only (no plan, no policy): the zone is that of `local_date`'s default calendar,
    which is the policy's default, and is not written here."""
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)  # the platform's times are UTC
    return local_date(expires_at)


def facts_of(match: Match, plan: ErasePlan) -> list[RecordFacts]:
    """Contacts and domains grouped by whether they serve a running registration (and its
    latest expiry): what the policy's contract rule needs. A lapsed domain is the subject's
    record there whether they hold it or only have a role on another customer's: erasing it
    deletes the registration, or takes the subject's roles off it. No refs: handles and domain
    names are not opaque, and a contract's end is re-examined, never timed."""
    until = expiry_day(plan.until) if plan.until is not None else None
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


def evidence(
    handles: list[str],
    deleted: dict[str, int],
    left: int,
    redacted: int,
    retained: list[RetainedItem],
    notified: list[RecipientNotification],
    today: date,
) -> str:
    if not handles:
        return f"registrar erase on {today.isoformat()}: no contact matched"
    named = ", ".join(handles[:EVIDENCE_HANDLES])
    if len(handles) > EVIDENCE_HANDLES:
        named += f" and {len(handles) - EVIDENCE_HANDLES} more"
    parts = [
        f"registrar erase on {today.isoformat()}: contacts {named}",
        "deleted: " + ", ".join(f"{k} {v}" for k, v in deleted.items()),
    ]
    if left:
        parts.append(f"roles removed from {left} lapsed domains other customers hold (kept)")
    parts.append(f"redacted in public RDAP/WHOIS: {redacted} contacts")
    for item in retained:
        until = item.until.isoformat() if item.until else "while the reason lasts"
        parts.append(f"retained: {item.category} {item.count} until {until} ({item.legal_basis})")
    if notified:
        parts.append(
            "registries notified: "
            + ", ".join(f"{n.recipient} {n.action} {n.reference}" for n in notified)
        )
    return "; ".join(parts)


class ErasureMixin(RegistrarBase):
    # --- erase ----------------------------------------------------------------------------

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        """The plan's deletions: the contacts on no running registration, and the lapsed
        registrations: deleted when the subject is the only customer behind one, else only the
        subject's roles are taken off it and it stays (another customer's registration, e.g.
        one the subject is the tech contact of). The contacts the plan keeps (a running
        registration) are redacted in RDAP/WHOIS."""
        today = plan.created_on or date.min
        match = await self._match(subject, "erase")
        self._refuse_if_ambiguous(match, "erase")
        deleted = {"contacts": 0, "domains": 0}
        anonymised = {"registry_updates": 0}
        notified: list[RecipientNotification] = []
        found = await self._erase_plan(match)  # which records, now
        if not plan.acts_on("domains", PlanAction.DELETE):
            found.lapsed = []
        left = 0  # lapsed domains other customers are behind: only the subject's roles went
        for name in found.lapsed:
            removed, stays = await self._erase_lapsed(name, match)
            deleted["domains"] += removed
            left += stays
        if left:
            anonymised["domains"] = left
        gone: list[str] = []
        deletable = plan.acts_on("contacts", PlanAction.DELETE)
        for handle in (h for h in match.handles if deletable and h not in found.retained):
            change = await self._delete_contact(handle)
            if change is not None:
                gone.append(handle)
                deleted["domains"] += change.domains_deleted
                notified += notifications(change.registry_updates)
        deleted["contacts"] = len(gone)
        if gone:  # their log entries (the deletions' own included) now name nobody
            anonymised["registry_updates"] = await self._update_count(gone, "erase")
        redacted = 0
        for handle in sorted(found.retained if plan.retained else ()):
            change = await self._contact_change(handle, "redact", "erase")
            if change.changed:
                redacted += 1
                notified += notifications(change.registry_updates)
        retained = plan.retained_items()
        log.info(
            "registrar erase: %d contacts deleted, %d retained (%d redacted), %d domains "
            "deleted, %d left to other customers, %d registry notifications",
            deleted["contacts"],
            len(found.retained),
            redacted,
            deleted["domains"],
            left,
            len(notified),
        )
        notified = sorted_notes(notified)
        return EraseResult(
            system=self.name,
            deleted=deleted,
            anonymised=anonymised,
            retained=retained,
            evidence=evidence(match.handles, deleted, left, redacted, retained, notified, today),
            notified=notified,
        )

    async def _erase_plan(self, match: Match) -> ErasePlan:
        plan = ErasePlan()
        if not match.contacts:
            return plan
        async for domain in self._domains(match.handles, "erase"):
            note_domain(plan, domain)
        return plan

    async def _erase_lapsed(self, name: str, match: Match) -> tuple[int, int]:
        """One lapsed registration the subject has a role on: deleted if they are the only
        customer behind it (`only_theirs`), else the subject's roles are taken off it and it
        stays with the other customer's. (1, 0): deleted now; (0, 1): the subject's roles
        removed; (0, 0): done already."""
        domain = await self._client.model(
            Domain, "GET", path("domains", name), operation="erase", allow_missing=True
        )
        if domain is None:  # deleted already
            return 0, 0
        if only_theirs(domain, match.contacts):
            return await self._delete_domain(name), 0
        removed = gone = False
        for handle in sorted({r.handle for r in domain.roles if r.handle in match.contacts}):
            removal = await self._remove_roles(name, handle)
            if removal is not None:
                removed = True
                # The other customer left it meanwhile: the subject was the last one behind it.
                gone = gone or removal.domain_deleted
        return (1, 0) if gone else (0, int(removed))

    async def _remove_roles(self, name: str, handle: str) -> RoleRemoval | None:
        """Take one contact off a lapsed registration; None if it had no role there (any more)."""
        response = await self._client.request(
            "DELETE",
            path("domains", name, "contacts", handle),
            operation="erase",
            allow=frozenset({404, 409}),
        )
        if response.status_code == 409:  # renewed since the plan was made
            raise SystemUnavailable("registrar: a registration changed during erase; retry")
        if response.status_code == 404:
            return None
        try:
            return RoleRemoval.model_validate_json(response.content)
        except ValidationError:
            raise unexpected_response("erase") from None

    async def _delete_domain(self, name: str) -> int:
        """1 if the lapsed registration was deleted now, 0 if it was gone already."""
        response = await self._client.request(
            "DELETE", path("domains", name), operation="erase", allow=frozenset({404, 409})
        )
        if response.status_code == 409:  # renewed since the plan was made
            raise SystemUnavailable("registrar: a registration changed during erase; retry")
        return 0 if response.status_code == 404 else 1

    async def _delete_contact(self, handle: str) -> Change | None:
        response = await self._client.request(
            "DELETE", path("contacts", handle), operation="erase", allow=frozenset({404, 409})
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
