"""The registrar platform's operations on its database, for the admin API and public RDAP.

Every lookup goes through an index (see `schema`); lists are paged by id ("keyset"), so a page
costs the same at the millionth row as at the first. Every change to a contact that a registry
holds is pushed to that registry in the same transaction: one `registry_updates` row per registry,
whose id is the registry's reference for the change (the Art. 19 evidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sandbox.registrar.schema import contacts, domain_contacts, domains, registry_updates

__all__ = [
    "REFERENCE_PREFIXES",
    "SEARCH_FIELDS",
    "Conflict",
    "DomainWithRoles",
    "Page",
    "PublicDomain",
    "RegistrarStore",
    "RoleRemoval",
    "StateChange",
    "contact_ids_query",
    "domain_ids_query",
    "domains_by_id_query",
    "domains_count_query",
    "parse_reference",
    "reference_of",
    "search_query",
    "updates_count_query",
    "updates_query",
]

SEARCH_FIELDS = (
    "email",
    "customer_number",
    "personal_identity_number",
    "organisation_number",
    "phone",
    "handle",
)
# The registries' own prefixes for their change references.
REFERENCE_PREFIXES = {"se": "IIS", "gtld": "VRSN"}
_REGISTRY_BY_PREFIX = {prefix: registry for registry, prefix in REFERENCE_PREFIXES.items()}
_CHUNK = 500  # values per IN (...) list
_ROLE_CONTACTS = domain_contacts.join(contacts, contacts.c.id == domain_contacts.c.contact_id)
_ROLE_DOMAINS = domain_contacts.join(domains, domains.c.id == domain_contacts.c.domain_id)
# A domain and its contacts, each with its roles on the domain.
PublicDomain = tuple[Row[Any], list[tuple[Row[Any], list[str]]]]


def reference_of(registry: str, update_id: int) -> str:
    """The registry's reference for one pushed change, e.g. `IIS-0000000042`."""
    return f"{REFERENCE_PREFIXES[registry]}-{update_id:010d}"


def parse_reference(reference: str) -> tuple[str, int] | None:
    """(registry, update id) of a reference, or None if it is not one of ours."""
    prefix, _, number = reference.partition("-")
    registry = _REGISTRY_BY_PREFIX.get(prefix.upper())
    if registry is None or not number.isdigit():
        return None
    return registry, int(number)


class Conflict(Exception):
    """The change is not allowed in the current state (e.g. deleting an active registration)."""


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None
    total: int | None = None


@dataclass
class DomainWithRoles:
    domain: Row[Any]
    roles: list[tuple[str, str, str]]  # (handle, role, contact kind)


@dataclass
class RoleRemoval:
    """A contact taken off a lapsed registration: its roles removed, and whether that left the
    registration without any customer contact, so that it was deleted too."""

    roles_removed: int
    domain_deleted: bool


@dataclass
class StateChange:
    """The contact after the operation, whether it changed, and the registry updates that
    record its current state (made now if it changed)."""

    contact: Row[Any] | None
    changed: bool
    updates: list[Row[Any]] = field(default_factory=list)
    changed_fields: list[str] = field(default_factory=list)
    domains_deleted: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def _registries(contact: Row[Any]) -> list[str]:
    return [r for r in str(contact.registries).split() if r]


class RegistrarStore:
    """All reads and writes of the sandbox registrar, on one async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(select(1))

    # --- contacts ---------------------------------------------------------------------------

    async def search_contacts(self, field_name: str, value: str, after: int, limit: int) -> Page:
        async with self._engine.connect() as conn:
            rows = list((await conn.execute(search_query(field_name, value, after, limit))).all())
        return _page(rows, limit)

    async def contact(self, handle: str) -> Row[Any] | None:
        async with self._engine.connect() as conn:
            return await _contact(conn, handle)

    async def update_contact(self, handle: str, values: dict[str, str]) -> StateChange:
        async with self._engine.begin() as conn:
            contact = await _contact(conn, handle, for_update=True)
            if contact is None:
                return StateChange(None, changed=False)
            changed = [k for k, v in values.items() if getattr(contact, k) != v]
            if not changed:
                return StateChange(contact, changed=False)
            await conn.execute(
                update(contacts)
                .where(contacts.c.id == contact.id)
                .values({**{k: values[k] for k in changed}, "updated_at": _now()})
            )
            pushed = await _push(conn, contact, "update", changed)
            after = await _contact(conn, handle)
        return StateChange(after, changed=True, updates=pushed, changed_fields=changed)

    async def redact(self, handle: str) -> StateChange:
        """Hide the contact in public RDAP/WHOIS (`disclose` off), pushed to its registries."""
        return await self._set_flag(handle, "disclose", False, "redact")

    async def set_restricted(self, handle: str, restricted: bool) -> StateChange:
        action = "restrict" if restricted else "lift_restriction"
        return await self._set_flag(handle, "restricted", restricted, action)

    async def _set_flag(self, handle: str, column: str, value: bool, action: str) -> StateChange:
        async with self._engine.begin() as conn:
            contact = await _contact(conn, handle, for_update=True)
            if contact is None:
                return StateChange(None, changed=False)
            if bool(getattr(contact, column)) == value:
                # Idempotent: report the updates that recorded this state, so a repeated call
                # gives the same answer (and the same references) as the first.
                recorded = await _latest_updates(conn, contact, action)
                return StateChange(contact, changed=False, updates=recorded)
            await conn.execute(
                update(contacts)
                .where(contacts.c.id == contact.id)
                .values({column: value, "updated_at": _now()})
            )
            pushed = await _push(conn, contact, action, [column])
            after = await _contact(conn, handle)
        return StateChange(after, changed=True, updates=pushed, changed_fields=[column])

    async def delete_contact(self, handle: str) -> StateChange:
        """Delete a contact that holds no role on an active domain, with its roles, and the
        lapsed domains it leaves without any customer contact. Pushed to its registries."""
        async with self._engine.begin() as conn:
            contact = await _contact(conn, handle, for_update=True)
            if contact is None:
                return StateChange(None, changed=False)
            if contact.kind == "role":
                raise Conflict("role accounts are managed by the registrar")
            linked = list(
                (
                    await conn.execute(
                        select(domains.c.id, domains.c.status)
                        .select_from(_ROLE_DOMAINS)
                        .where(domain_contacts.c.contact_id == contact.id)
                    )
                ).all()
            )
            if any(row.status == "active" for row in linked):
                raise Conflict("contact has a role on an active domain")
            await conn.execute(
                delete(domain_contacts).where(domain_contacts.c.contact_id == contact.id)
            )
            orphaned = []
            for domain_id in sorted({row.id for row in linked}):
                others = await conn.scalar(
                    select(func.count())
                    .select_from(_ROLE_CONTACTS)
                    .where(domain_contacts.c.domain_id == domain_id)
                    .where(contacts.c.kind != "role")
                )
                if not others:
                    orphaned.append(domain_id)
            for domain_id in orphaned:
                await _delete_domain(conn, domain_id)
            await conn.execute(delete(contacts).where(contacts.c.id == contact.id))
            pushed = await _push(conn, contact, "delete", [])
        return StateChange(None, changed=True, updates=pushed, domains_deleted=len(orphaned))

    # --- domains ----------------------------------------------------------------------------

    async def domain(self, name: str) -> DomainWithRoles | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(domains).where(domains.c.name == name))).first()
            if row is None:
                return None
            roles = await _roles(conn, [row.id], None)
        return DomainWithRoles(row, roles.get(row.id, []))

    async def public_domain(
        self, name: str
    ) -> tuple[Row[Any], list[tuple[Row[Any], list[str]]]] | None:
        """A domain and its contacts with their roles on it (registrant first), for RDAP."""
        order = {"registrant": 0, "admin": 1, "tech": 2}
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(domains).where(domains.c.name == name))).first()
            if row is None:
                return None
            linked = (
                await conn.execute(
                    select(contacts, domain_contacts.c.role)
                    .select_from(_ROLE_CONTACTS)
                    .where(domain_contacts.c.domain_id == row.id)
                )
            ).all()
        grouped: dict[int, tuple[Row[Any], list[str]]] = {}
        for contact in sorted(linked, key=lambda r: (order[r.role], r.id)):
            grouped.setdefault(contact.id, (contact, []))[1].append(contact.role)
        return row, list(grouped.values())

    async def public_entity(self, handle: str) -> tuple[Row[Any], list[str]] | None:
        """A contact and the distinct roles it holds on any domain, for RDAP."""
        async with self._engine.connect() as conn:
            contact = await _contact(conn, handle)
            if contact is None:
                return None
            found = []
            for role in ("registrant", "admin", "tech"):  # index seeks on (contact_id, role)
                held = await conn.scalar(
                    select(domain_contacts.c.id)
                    .where(domain_contacts.c.contact_id == contact.id)
                    .where(domain_contacts.c.role == role)
                    .limit(1)
                )
                if held is not None:
                    found.append(role)
        return contact, found

    async def domains_of(self, handles: Sequence[str], after: int, limit: int) -> Page:
        """Distinct domains on which any of `handles` has a role, with those contacts' roles."""
        async with self._engine.connect() as conn:
            ids = await _contact_ids(conn, handles)
            if not ids:
                return Page([], None, 0)
            found = list((await conn.execute(domain_ids_query(ids, after, limit))).scalars())
            more = len(found) > limit
            found = found[:limit]
            rows = list((await conn.execute(domains_by_id_query(found))).all()) if found else []
            total = await conn.scalar(domains_count_query(ids))
            page = Page(rows, str(found[-1]) if more else None)
            roles = await _roles(conn, [row.id for row in page.items], ids)
        page.items = [DomainWithRoles(row, roles.get(row.id, [])) for row in page.items]
        page.total = int(total or 0)
        return page

    async def delete_domain(self, name: str) -> bool:
        """Delete a lapsed (expired or deleted) registration and its roles. False: not found."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(domains.c.id, domains.c.status).where(domains.c.name == name)
                )
            ).first()
            if row is None:
                return False
            if row.status == "active":
                raise Conflict("the registration is active")
            await _delete_domain(conn, row.id)
        return True

    async def remove_contact(self, name: str, handle: str) -> RoleRemoval | None:
        """Remove one contact's roles from a lapsed (expired or deleted) registration; the
        registration stays with its other contacts, unless that leaves it without any customer
        contact (as `delete_contact` does). None: no such domain, or the contact has no role on
        it."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(domains.c.id, domains.c.status).where(domains.c.name == name)
                )
            ).first()
            contact = await _contact(conn, handle)
            if row is None or contact is None:
                return None
            if row.status == "active":
                raise Conflict("the registration is active")
            removed = (
                await conn.execute(
                    delete(domain_contacts)
                    .where(domain_contacts.c.domain_id == row.id)
                    .where(domain_contacts.c.contact_id == contact.id)
                )
            ).rowcount
            if not removed:
                return None
            others = await conn.scalar(
                select(func.count())
                .select_from(_ROLE_CONTACTS)
                .where(domain_contacts.c.domain_id == row.id)
                .where(contacts.c.kind != "role")
            )
            if not others:
                await _delete_domain(conn, row.id)
        return RoleRemoval(roles_removed=removed, domain_deleted=not others)

    # --- registry log -----------------------------------------------------------------------

    async def registry_updates(self, handles: Sequence[str], after: int, limit: int) -> Page:
        """Updates for `handles` (at most a few hundred: the API caps them), oldest first."""
        wanted = sorted(set(handles))
        async with self._engine.connect() as conn:
            total = await conn.scalar(updates_count_query(wanted))
            rows = list((await conn.execute(updates_query(wanted, after, limit))).all())
        page = _page(rows, limit)
        page.total = int(total or 0)
        return page

    async def registry_update(self, registry: str, update_id: int) -> Row[Any] | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    select(registry_updates)
                    .where(registry_updates.c.id == update_id)
                    .where(registry_updates.c.registry == registry)
                )
            ).first()


# --- the queries a DSR lookup runs (each an index search; tests check their plans) -----------


def search_query(field_name: str, value: str, after: int, limit: int) -> Select[Any]:
    """One page of contacts with `value` in the searched column (limit + 1 rows)."""
    return (
        select(contacts)
        .where(contacts.c[field_name] == value)
        .where(contacts.c.id > after)
        .order_by(contacts.c.id)
        .limit(limit + 1)
    )


def contact_ids_query(handles: Sequence[str]) -> Select[Any]:
    return select(contacts.c.id).where(contacts.c.handle.in_(handles))


def domain_ids_query(contact_ids: Sequence[int], after: int, limit: int) -> Select[Any]:
    """One page of the distinct ids of domains the contacts have roles on (limit + 1 rows).

    Two steps (ids from the role index, then rows by primary key) rather than one `IN
    (subquery)`: SQLite would walk the domains table by id and test each row."""
    return (
        select(domain_contacts.c.domain_id)
        .where(domain_contacts.c.contact_id.in_(contact_ids))
        .where(domain_contacts.c.domain_id > after)
        .distinct()
        .order_by(domain_contacts.c.domain_id)
        .limit(limit + 1)
    )


def domains_by_id_query(domain_ids: Sequence[int]) -> Select[Any]:
    return select(domains).where(domains.c.id.in_(domain_ids)).order_by(domains.c.id)


def domains_count_query(contact_ids: Sequence[int]) -> Select[Any]:
    return select(func.count(func.distinct(domain_contacts.c.domain_id))).where(
        domain_contacts.c.contact_id.in_(contact_ids)
    )


def updates_query(handles: Sequence[str], after: int, limit: int) -> Select[Any]:
    """One page of the registry log of the handles, oldest first (limit + 1 rows)."""
    return (
        select(registry_updates)
        .where(registry_updates.c.handle.in_(handles))
        .where(registry_updates.c.id > after)
        .order_by(registry_updates.c.id)
        .limit(limit + 1)
    )


def updates_count_query(handles: Sequence[str]) -> Select[Any]:
    return select(func.count()).where(registry_updates.c.handle.in_(handles))


# --- helpers ----------------------------------------------------------------------------------


def _page(rows: list[Row[Any]], limit: int) -> Page:
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(list(rows), str(rows[-1].id))
    return Page(list(rows), None)


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


async def _contact(conn: AsyncConnection, handle: str, for_update: bool = False) -> Row[Any] | None:
    statement = select(contacts).where(contacts.c.handle == handle)
    if for_update:
        statement = statement.with_for_update()
    return (await conn.execute(statement)).first()


async def _contact_ids(conn: AsyncConnection, handles: Sequence[str]) -> list[int]:
    ids: list[int] = []
    for chunk in _chunks(sorted(set(handles))):
        ids += (await conn.execute(contact_ids_query(chunk))).scalars()
    return ids


async def _roles(
    conn: AsyncConnection, domain_ids: Sequence[int], only_contacts: Sequence[int] | None
) -> dict[int, list[tuple[str, str, str]]]:
    """Roles per domain id: (handle, role, kind), optionally only those of some contacts."""
    if not domain_ids:
        return {}
    statement = (
        select(
            domain_contacts.c.domain_id, contacts.c.handle, domain_contacts.c.role, contacts.c.kind
        )
        .select_from(_ROLE_CONTACTS)
        .where(domain_contacts.c.domain_id.in_(domain_ids))
        .order_by(domain_contacts.c.domain_id, domain_contacts.c.id)
    )
    if only_contacts is not None:
        statement = statement.where(domain_contacts.c.contact_id.in_(only_contacts))
    found: dict[int, list[tuple[str, str, str]]] = {}
    for row in (await conn.execute(statement)).all():
        found.setdefault(row.domain_id, []).append((row.handle, row.role, row.kind))
    return found


async def _delete_domain(conn: AsyncConnection, domain_id: int) -> None:
    await conn.execute(delete(domain_contacts).where(domain_contacts.c.domain_id == domain_id))
    await conn.execute(delete(domains).where(domains.c.id == domain_id))


async def _push(
    conn: AsyncConnection, contact: Row[Any], action: str, fields: Sequence[str]
) -> list[Row[Any]]:
    """Record the change at every registry that holds the contact; the rows are the evidence."""
    pushed: list[Row[Any]] = []
    for registry in _registries(contact):
        row = (
            await conn.execute(
                insert(registry_updates)
                .values(
                    registry=registry,
                    handle=contact.handle,
                    action=action,
                    fields=",".join(fields),
                    created_at=_now(),
                )
                .returning(*registry_updates.c)
            )
        ).one()
        pushed.append(row)
    return pushed


async def _latest_updates(conn: AsyncConnection, contact: Row[Any], action: str) -> list[Row[Any]]:
    found: list[Row[Any]] = []
    for registry in _registries(contact):
        row = (
            await conn.execute(
                select(registry_updates)
                .where(registry_updates.c.handle == contact.handle)
                .where(registry_updates.c.registry == registry)
                .where(registry_updates.c.action == action)
                .order_by(registry_updates.c.id.desc())
                .limit(1)
            )
        ).first()
        if row is not None:
            found.append(row)
    return found
