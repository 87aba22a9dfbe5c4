"""The registrar connector: the contract suite against the real sandbox server, plus the
registrar's own rules (contract retention with RDAP redaction, deletion of lapsed contacts,
Art. 19 notifications backed by the registry log) and its robustness (retries, rate limits,
timeouts) against sandbox servers configured to misbehave.

One database is seeded per session (200 customers) and served by a sandbox server started as a
subprocess on a free port, with pages of at most two items so that every list is paged. Each test
claims its own seeded customer (`_claim`), so no test sees another test's changes, in any order.
The misbehaving servers serve the same database file; they are only read through.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.base import (
    CLOCK_MARGIN,
    AmbiguousSubject,
    AuthenticationError,
    ConfigurationError,
    RateLimited,
    RetryPolicy,
    SystemUnavailable,
    operation_first_asked,
)
from connectors.base.http_errors import parse_retry_after
from connectors.registrar import CONTRACT_LEGAL_BASIS, RegistrarConnector
from connectors.testing import (
    ConnectorContract,
    KnownSubject,
    RecordingSink,
    dead_tcp_address,
    discover,
    erase_planned,
    exception_text,
    leaked_values,
    personal_values,
    planned_erasure,
)
from devstack.localstack import ManagedProcess, free_port, sandbox_server
from policy.deadlines import local_date
from policy.loader import load_policy
from policy.planner import plan_request
from sandbox.people import Customer, generate_customers
from sandbox.registrar import (
    HOSTMASTER,
    RegistrarContact,
    RegistrarRecords,
    domain_contacts,
    domains,
    registrar_records,
    seed_registrar,
    seeded_registrar,
)
from schemas.events import FieldChange, RequestKind
from schemas.identifiers import IdentifierType
from schemas.plan import PlanAction
from schemas.status import RetainedItem, RetentionReason
from schemas.subject import Identifier, SubjectRef

SEED = 7
CUSTOMERS = 200
TOKEN = "test-registrar-token"
TODAY = date(2026, 11, 25)
REDACTED = "REDACTED FOR PRIVACY"


# --- seeded subjects ----------------------------------------------------------------------

_claimed: set[int] = set()


def _claim(predicate: Callable[[RegistrarRecords], bool]) -> RegistrarRecords:
    """The first seeded customer in the registrar that fits and no test has claimed yet."""
    for customer in generate_customers(CUSTOMERS, SEED):
        if customer.index in _claimed:
            continue
        records = registrar_records(customer, SEED)
        if records.present and predicate(records):
            _claimed.add(customer.index)
            if customer.partner_index is not None:
                _claimed.add(customer.partner_index)
            return records
    raise LookupError("no unclaimed seeded customer fits; seed more customers")


def _plain(records: RegistrarRecords) -> bool:
    customer = records.customer
    return customer.status == "active" and customer.special is None


def _has(status: str) -> Callable[[RegistrarRecords], bool]:
    return lambda records: bool(records.domains_with(status))


def _name(customer: Customer) -> str:
    return customer.contact_name or customer.name


def _ref(*pairs: tuple[IdentifierType, str], name: str | None = None) -> SubjectRef:
    return SubjectRef(
        identifiers=tuple(Identifier(type=kind, value=value) for kind, value in pairs), name=name
    )


def _by_email(customer: Customer, *, name: bool = True) -> SubjectRef:
    return _ref((IdentifierType.EMAIL, customer.email), name=_name(customer) if name else None)


# --- the sandbox servers ------------------------------------------------------------------


@pytest.fixture(scope="session")
async def registrar_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("registrar-connector") / "registrar.db"
    url = f"sqlite+aiosqlite:///{path}"
    await seed_registrar(url, CUSTOMERS, SEED)
    return url


def _start(database_url: str, log_dir: Path, options: dict[str, str]) -> tuple[ManagedProcess, str]:
    port = free_port()
    process = sandbox_server(
        "registrar", port, database_url, log_dir, {"api_token": TOKEN, **options}
    )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def registrar_url(registrar_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = _start(
        registrar_db, tmp_path_factory.mktemp("registrar-logs"), {"max_page_size": "2"}
    )
    yield url
    process.stop()


_FAULTY = {
    # Every 2nd request 503, every 3rd 429, both "retry at once": calls succeed on retry.
    "flaky": {"unavailable_every": "2", "throttle_every": "3", "retry_after": "0"},
    # Every request 429 with a two-minute Retry-After: longer than any activity should sleep.
    "throttled": {"throttle_every": "1", "retry_after": "120"},
    # Every request 503.
    "down": {"unavailable_every": "1", "retry_after": "0"},
    # Every request takes 2 s.
    "slow": {"latency": "2"},
    # Every request 302 to another host: a base URL that points where the API has moved from.
    "moved": {"redirect_every": "1"},
}


@pytest.fixture(scope="session")
def faulty_urls(
    registrar_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The misbehaving servers, started in parallel (each takes about a second to import)."""
    log_dir = tmp_path_factory.mktemp("registrar-faulty-logs")
    with ThreadPoolExecutor(len(_FAULTY)) as pool:
        started = dict(
            zip(
                _FAULTY,
                pool.map(lambda options: _start(registrar_db, log_dir, options), _FAULTY.values()),
                strict=True,
            )
        )
    yield {name: url for name, (_, url) in started.items()}
    for process, _ in started.values():
        process.stop()


def _connector(
    url: str,
    *,
    timeout: float = 5,
    attempts: int = 3,
    wait_initial: float = 0.02,
    retry_after_cap: float = 30.0,
) -> RegistrarConnector:
    return RegistrarConnector(
        url,
        TOKEN,
        timeout=timeout,
        retry=RetryPolicy(
            attempts=attempts,
            wait_initial=wait_initial,
            wait_jitter=0.01,
            retry_after_cap=retry_after_cap,
        ),
    )


# --- the contract -------------------------------------------------------------------------


class TestRegistrarConnector(ConnectorContract):
    @pytest.fixture
    async def connector(self, registrar_url: str) -> AsyncIterator[RegistrarConnector]:
        connector = _connector(registrar_url)
        yield connector
        await connector.aclose()

    @pytest.fixture
    def known_subject(self, registrar_url: str) -> KnownSubject:
        records = _claim(_plain)
        return KnownSubject(_by_email(records.customer), records.counts)

    @pytest.fixture
    def unknown_subject(self) -> SubjectRef:
        return _ref(
            (IdentifierType.EMAIL, f"nobody.{uuid.uuid4().hex[:10]}@example.invalid"),
            (IdentifierType.CUSTOMER_NUMBER, "K999999999"),
            (IdentifierType.PHONE, "+46700000000"),
            (IdentifierType.DOMAIN, f"ingen-{uuid.uuid4().hex[:8]}.se"),
            name="Ingen Alls",
        )

    @pytest.fixture
    async def unreachable_connector(self) -> AsyncIterator[RegistrarConnector]:
        host, port = dead_tcp_address()
        connector = _connector(f"http://{host}:{port}", timeout=1, attempts=2)
        yield connector
        await connector.aclose()

    @pytest.fixture
    def ambiguous_subject(self) -> SubjectRef:
        shared = _claim(lambda r: r.customer.special == "shared_email").customer
        return _by_email(shared)

    @pytest.fixture
    async def bad_credentials_connector(
        self, registrar_url: str
    ) -> AsyncIterator[RegistrarConnector]:
        connector = RegistrarConnector(registrar_url, "not-the-token", timeout=5)
        yield connector
        await connector.aclose()

    @pytest.fixture
    def erase_today(self) -> date:
        return TODAY


# --- registrar's own rules ----------------------------------------------------------------


@pytest.fixture
async def registrar(registrar_url: str) -> AsyncIterator[RegistrarConnector]:
    connector = _connector(registrar_url)
    yield connector
    await connector.aclose()


@pytest.fixture
async def api(registrar_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's own API, to check what the connector did from the platform's side."""
    async with httpx.AsyncClient(
        base_url=registrar_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ) as client:
        yield client


async def _registry_log(api: httpx.AsyncClient, handle: str) -> dict[str, dict[str, object]]:
    """The sandbox registry log of one handle, by reference (it is paged by two)."""
    found: dict[str, dict[str, object]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, str | list[str]] = {"handle": [handle]}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/registry/updates", params=params)).json()
        found.update({item["reference"]: item for item in page["items"]})
        cursor = page["next_cursor"]
        if not cursor:
            return found


def _personal_strings(customer: Customer) -> list[str]:
    return [
        v
        for v in (
            _name(customer),
            customer.email,
            customer.phone,
            customer.street,
            customer.personal_identity_number,
        )
        if v
    ]


async def test_contact_of_an_active_domain_is_retained_and_redacted(
    registrar: RegistrarConnector, api: httpx.AsyncClient
) -> None:
    # A company: disclosed in RDAP until the erasure, with an active and a lapsed registration.
    records = _claim(
        lambda r: (
            _plain(r)
            and r.customer.kind == "company"
            and _has("active")(r)
            and len(r.domains_with("active")) < len(r.domains)
        )
    )
    company = records.customer
    active = records.domains_with("active")
    lapsed = [d for d in records.domains if d.status != "active"]
    before = (await api.get(f"/rdap/domain/{active[0].name}")).json()
    assert company.email in json.dumps(before, ensure_ascii=False)  # published before

    subject = await discover(registrar, _by_email(company))
    result = await erase_planned(registrar, subject, TODAY)

    retained = {item.category: item for item in result.retained}
    until = local_date(max(d.expires_at for d in active))  # the Stockholm day it expires
    assert retained["contacts"].count == len(records.contacts)
    assert retained["contacts"].reason is RetentionReason.CONTRACT
    assert retained["contacts"].legal_basis == CONTRACT_LEGAL_BASIS
    assert retained["contacts"].until == until
    assert retained["domains"].count == len(active)
    assert retained["domains"].until == until
    assert result.deleted == {"contacts": 0, "domains": len(lapsed)}
    # Every contact was disclosed and is held by its registries: one redaction pushed to each.
    expected = {
        (f"{registry}-registry", "redact", contact.handle)
        for contact in records.contacts
        for registry in contact.registries
    }
    logs = {c.handle: await _registry_log(api, c.handle) for c in records.contacts}
    got = set()
    for note in result.notified:
        handle = next(h for h, log in logs.items() if note.reference in log)  # it exists there
        assert logs[handle][note.reference]["action"] == note.action
        got.add((note.recipient, note.action, handle))
    assert got == expected

    # Public RDAP no longer shows any personal data of the contact person.
    for domain in active:
        response = await api.get(f"/rdap/domain/{domain.name}")
        assert response.status_code == 200
        rdap = response.json()
        text = json.dumps(rdap, ensure_ascii=False).lower()
        assert not [v for v in _personal_strings(company) if v.lower() in text]
        assert "redacted" in rdap["rdapConformance"]
        assert {r["name"]["type"] for r in rdap["redacted"]} >= {
            "Registrant Name",
            "Registrant Email",
            "Registrant Phone",
            "Registrant Street",
        }
        registrant = next(e for e in rdap["entities"] if "registrant" in e["roles"])
        card = {p[0]: p[3] for p in registrant["vcardArray"][1]}
        assert card["fn"] == REDACTED
        assert card["adr"][2] == card["adr"][3] == card["adr"][5] == REDACTED
        assert "email" not in card
        assert "tel" not in card
    for domain in lapsed:
        assert (await api.get(f"/rdap/domain/{domain.name}")).status_code == 404

    # What remains is exactly what is retained, and a second erasure changes nothing.
    after = await registrar.locate(subject)
    assert after.counts["domains"] == len(active)
    again = await erase_planned(registrar, subject, TODAY)
    assert again.notified == []

    # The registry log grew by the redactions' own entries (the proof the registries were
    # told); contacts and domains are retained exactly as before.
    def kept(items: list[RetainedItem]) -> list[RetainedItem]:
        return [i for i in items if i.category != "registry_updates"]

    assert kept(again.retained) == kept(result.retained)


async def test_person_with_an_active_domain_keeps_a_redacted_contact(
    registrar: RegistrarConnector, api: httpx.AsyncClient
) -> None:
    # Persons are redacted by default (as .se does): nothing to push, but the contact stays.
    records = _claim(
        lambda r: (
            _plain(r)
            and r.customer.kind == "person"
            and _has("active")(r)
            and not r.contacts[0].disclose
        )
    )
    result = await erase_planned(
        registrar, await discover(registrar, _by_email(records.customer)), TODAY
    )
    kept = {category: 0 for category in ("contacts", "domains")}
    for item in result.retained:
        kept[item.category] = kept.get(item.category, 0) + item.count
    assert kept["contacts"] == 1
    assert kept["domains"] == len(records.domains_with("active"))
    assert result.notified == []
    rdap = (await api.get(f"/rdap/domain/{records.domains_with('active')[0].name}")).json()
    text = json.dumps(rdap, ensure_ascii=False).lower()
    assert not [v for v in _personal_strings(records.customer) if v.lower() in text]


async def test_contact_of_only_lapsed_domains_is_deleted(
    registrar: RegistrarConnector, api: httpx.AsyncClient
) -> None:
    records = _claim(lambda r: bool(r.domains) and not _has("active")(r) and not r.customer.special)
    customer = records.customer
    subject = await discover(registrar, _by_email(customer))
    assert {i.value for i in subject.identifiers if i.type is IdentifierType.DOMAIN} == {
        d.name for d in records.domains
    }

    result = await erase_planned(registrar, subject, TODAY)

    assert result.retained == []
    assert result.deleted == {"contacts": len(records.contacts), "domains": len(records.domains)}
    deletions = sum(len(c.registries) for c in records.contacts)  # one per registry holding it
    assert result.anonymised == {"registry_updates": len(records.updates) + deletions}
    for contact in records.contacts:
        log = await _registry_log(api, contact.handle)
        deletions = {ref for ref, item in log.items() if item["action"] == "delete"}
        notes = {n.reference for n in result.notified if n.reference in log}
        assert notes == deletions
        assert len(deletions) == len(contact.registries)  # one per registry that held it
        assert (await api.get(f"/contacts/{contact.handle}")).status_code == 404
    for domain in records.domains:
        assert (await api.get(f"/rdap/domain/{domain.name}")).status_code == 404
    assert not (await registrar.locate(subject)).found
    for contact in records.contacts:
        assert contact.handle in result.evidence
    assert customer.email not in result.evidence


async def test_a_registration_expiring_after_stockholm_midnight_keeps_its_contacts(
    registrar: RegistrarConnector, registrar_db: str
) -> None:
    """The policy judges a contract's end by the company's "today", a Stockholm day, so the
    expiry it is given must be one too. A registration expiring 2028-06-30T22:30Z (00:30 on
    1 July in Stockholm), looked at 00:10 on 1 July, still runs: its contract ends on 1 July and
    its contacts are kept. Taken as the UTC date it had ended on 30 June, "yesterday", and the
    contacts of a running registration were planned for deletion."""
    records = _claim(lambda r: _plain(r) and r.customer.kind == "person")
    expires = datetime(2028, 6, 30, 22, 30, tzinfo=UTC)  # after every seeded registration's
    now = datetime(2028, 6, 30, 22, 10, tzinfo=UTC)
    assert now < expires and local_date(now) == local_date(expires) == date(2028, 7, 1)
    await _add_domain(registrar_db, [(records.contacts[0], "registrant")], "active", expires)

    subject = await discover(registrar, _by_email(records.customer))
    located = await registrar.locate(subject)
    plan = await planned_erasure(registrar, subject, local_date(now))

    running = [f.contract_end for f in located.facts if f.contract_active and f.contract_end]
    assert running == [date(2028, 7, 1)] * 2  # its contacts and its domains
    for category in ("contacts", "domains"):
        kept = [a for a in plan.for_category(category) if a.action is PlanAction.RETAIN]
        assert [a.until for a in kept] == [date(2028, 7, 1)], category


async def _add_lapsed_domain(
    database_url: str, roles: list[tuple[RegistrarContact, str]], status: str = "expired"
) -> str:
    """A lapsed registration written into the seeded database with the given roles (e.g. one
    customer's domain with another customer as its tech contact); its name."""
    return await _add_domain(database_url, roles, status, datetime.now(UTC) - timedelta(days=30))


async def _add_domain(
    database_url: str,
    roles: list[tuple[RegistrarContact, str]],
    status: str,
    expires_at: datetime,
) -> str:
    """A registration with the given roles, status and expiry written into the seeded
    database; its name."""
    name = f"delad-{uuid.uuid4().hex[:10]}.se"
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            domain_id = (
                await conn.execute(
                    insert(domains)
                    .values(
                        name=name,
                        registry="se",
                        status=status,
                        created_at=expires_at - timedelta(days=830),
                        expires_at=expires_at,
                    )
                    .returning(domains.c.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(domain_contacts),
                [{"domain_id": domain_id, "contact_id": c.id, "role": role} for c, role in roles],
            )
    finally:
        await engine.dispose()
    return name


async def _roles_on(api: httpx.AsyncClient, name: str) -> set[tuple[str, str]] | None:
    """All the roles on a domain at the platform (every contact's); None if it is gone."""
    response = await api.get(f"/domains/{name}")
    if response.status_code == 404:
        return None
    return {(r["handle"], r["role"]) for r in response.json()["roles"]}


@pytest.mark.parametrize("kept", [False, True], ids=["contact-deleted", "contact-kept"])
async def test_tech_contact_of_another_customers_lapsed_domain_leaves_it(
    registrar: RegistrarConnector, api: httpx.AsyncClient, registrar_db: str, kept: bool
) -> None:
    # The subject is only the tech contact of a lapsed registration another customer holds:
    # the registration is that customer's; only the subject's role on it is erased. With an
    # active domain of their own the subject's contact is kept (contract), without it deleted.
    records = _claim(
        lambda r: (
            r.customer.kind == "person"
            and not r.customer.special
            and _has("active")(r) is kept
            and (r.customer.status == "active" or not kept)
        )
    )
    holder = _claim(lambda r: _plain(r) and r.customer.kind == "person" and bool(r.domains))
    tech, registrant = records.contacts[0], holder.contacts[0]
    name = await _add_lapsed_domain(registrar_db, [(registrant, "registrant"), (tech, "tech")])

    subject = await discover(registrar, _by_email(records.customer))
    located = await registrar.locate(subject)
    assert located.counts["domains"] == len(records.domains) + 1  # the subject's role is theirs
    assert name not in {i.value for i in subject.identifiers}  # the domain is not theirs
    # The subject's export shows their own role on it, nothing of the holder's.
    sink = RecordingSink()
    await registrar.export(subject, sink)
    shared = next(d for d in sink.records["domains"] if d["domain"] == name)
    assert shared["roles"] == [{"handle": tech.handle, "role": "tech"}]
    exported = json.dumps(sink.records, ensure_ascii=False).lower()
    theirs = [
        v
        for v in (registrant.handle, registrant.name, registrant.email, registrant.phone)
        if v is not None
    ]
    assert not [v for v in theirs if v.lower() in exported], "the holder's data was exported"

    result = await erase_planned(registrar, subject, TODAY)

    # The registration stays, with the holder's role and without the subject's.
    assert await _roles_on(api, name) == {(registrant.handle, "registrant")}
    assert result.deleted["domains"] == len([d for d in records.domains if d.status != "active"])
    assert result.anonymised["domains"] == 1
    assert "roles removed from 1 lapsed domains" in result.evidence
    assert name not in result.evidence
    # The holder lost nothing: every role on their own domains is still there.
    handle_of = {c.id: c.handle for c in (*holder.contacts, HOSTMASTER)}
    for domain in holder.domains:
        seeded = {(handle_of[contact_id], role) for contact_id, role in domain.roles}
        assert await _roles_on(api, domain.name) == seeded
    holder_found = await registrar.locate(_by_email(holder.customer))
    assert holder_found.counts["domains"] == len(holder.domains) + 1
    contact = await api.get(f"/contacts/{tech.handle}")
    assert contact.status_code == (200 if kept else 404)
    # What the subject had on the holder's domain is gone: nothing of it is left to find.
    after = await registrar.locate(subject)
    assert after.counts["domains"] == len(records.domains_with("active"))
    assert (await erase_planned(registrar, subject, TODAY)).anonymised.get("domains", 0) == 0


async def test_lapsed_domain_only_the_subject_is_behind_is_deleted(
    registrar: RegistrarConnector, api: httpx.AsyncClient, registrar_db: str
) -> None:
    # A company (registrant and admin contacts, kept for an active domain): a lapsed domain
    # whose only customer contacts are the company's two (the registrar's hostmaster aside) is
    # the company's own and is deleted; one where it is only the tech contact of another
    # customer stays, without the company's role.
    records = _claim(lambda r: _plain(r) and len(r.contacts) == 2 and _has("active")(r))
    holder = _claim(lambda r: _plain(r) and r.customer.kind == "person" and bool(r.domains))
    registrant, admin = records.contacts
    other = holder.contacts[0]
    own = await _add_lapsed_domain(
        registrar_db,
        [(registrant, "registrant"), (admin, "admin"), (admin, "tech"), (HOSTMASTER, "tech")],
        status="deleted",
    )
    shared = await _add_lapsed_domain(registrar_db, [(other, "registrant"), (admin, "tech")])

    subject = await discover(registrar, _by_email(records.customer))
    result = await erase_planned(registrar, subject, TODAY)

    assert await _roles_on(api, own) is None
    assert await _roles_on(api, shared) == {(other.handle, "registrant")}
    lapsed = [d for d in records.domains if d.status != "active"]
    assert result.deleted == {"contacts": 0, "domains": len(lapsed) + 1}
    assert result.anonymised["domains"] == 1
    for contact in records.contacts:  # kept for the active registration, redacted
        assert (await api.get(f"/contacts/{contact.handle}")).status_code == 200
    assert (await registrar.locate(subject)).counts["domains"] == len(
        records.domains_with("active")
    )


async def test_rectification_is_pushed_to_the_registries(
    registrar: RegistrarConnector, api: httpx.AsyncClient
) -> None:
    records = _claim(
        lambda r: _plain(r) and len(r.contacts) == 1 and len(r.contacts[0].registries) == 2
    )
    contact = records.contacts[0]
    subject = _by_email(records.customer)
    result = await registrar.rectify(
        subject,
        [
            FieldChange(field="phone", value="070-123 45 67"),
            FieldChange(field="postcode", value="41301"),
            FieldChange(field="personal_identity_number", value="199001011234"),
        ],
    )
    assert result.changed == {"contacts": 1}
    assert result.rejected_fields == []
    assert result.unchanged_fields == ["personal_identity_number"]
    assert sorted(n.recipient for n in result.notified) == ["gtld-registry", "se-registry"]
    log = await _registry_log(api, contact.handle)
    for note in result.notified:
        entry = log[note.reference]
        assert entry["action"] == note.action == "update"
        assert entry["fields"] == ["phone", "postcode"]  # names of fields, never their values
        single = (await api.get(f"/registry/updates/{note.reference}")).json()
        assert single == entry
    stored = (await api.get(f"/contacts/{contact.handle}")).json()
    assert stored["phone"] == "+46701234567"
    assert stored["address"]["postcode"] == "413 01"


async def test_restriction_is_pushed_and_idempotent(
    registrar: RegistrarConnector, api: httpx.AsyncClient
) -> None:
    records = _claim(
        lambda r: _plain(r) and len(r.contacts) == 1 and bool(r.contacts[0].registries)
    )
    contact = records.contacts[0]
    subject = _by_email(records.customer)
    first = await registrar.restrict(subject)
    assert first.restricted == {"contacts": 1}
    assert [n.action for n in first.notified] == ["restrict"] * len(contact.registries)
    log = await _registry_log(api, contact.handle)
    assert all(log[n.reference]["action"] == "restrict" for n in first.notified)
    assert await registrar.restrict(subject) == first  # the same references, nothing new pushed
    assert len(await _registry_log(api, contact.handle)) == len(log)
    lifted = await registrar.lift_restriction(subject)
    assert [n.action for n in lifted.notified] == ["lift_restriction"] * len(contact.registries)
    assert (await api.get(f"/contacts/{contact.handle}")).json()["restricted"] is False


async def test_contact_without_registrations_is_not_notified(
    registrar: RegistrarConnector,
) -> None:
    # Customer 0 of every block is known everywhere, with or without domain names.
    records = _claim(lambda r: not r.domains and not r.customer.special)
    result = await erase_planned(registrar, _by_email(records.customer), TODAY)
    assert result.deleted == {"contacts": 1, "domains": 0}
    assert result.notified == []


async def test_locate_learns_identifiers_and_finds_by_domain(
    registrar: RegistrarConnector,
) -> None:
    records = _claim(lambda r: _plain(r) and r.customer.kind == "person" and bool(r.domains))
    customer = records.customer
    located = await registrar.locate(_by_email(customer))
    learned = {(i.type, i.value) for i in located.learned}
    assert (IdentifierType.CUSTOMER_NUMBER, customer.customer_number) in learned
    assert (IdentifierType.PERSONAL_IDENTITY_NUMBER, customer.personal_identity_number) in learned
    assert (IdentifierType.PHONE, customer.phone) in learned
    assert {v for t, v in learned if t is IdentifierType.DOMAIN} == set(customer.domains)
    assert located.counts == records.counts

    by_domain = await registrar.locate(_ref((IdentifierType.DOMAIN, customer.domains[0].upper())))
    assert by_domain.counts == records.counts
    assert (IdentifierType.EMAIL, customer.email) in {(i.type, i.value) for i in by_domain.learned}


async def test_company_registrant_and_admin_are_one_subject(registrar: RegistrarConnector) -> None:
    records = _claim(lambda r: _plain(r) and len(r.contacts) == 2)
    company = records.customer
    assert company.organisation_number is not None
    by_orgnr = _ref(
        (IdentifierType.ORGANISATION_NUMBER, company.organisation_number.replace("-", ""))
    )
    only_registrant = await registrar.locate(by_orgnr)
    assert only_registrant.counts["contacts"] == 1
    full = await discover(registrar, by_orgnr)  # the customer number leads to the admin contact
    located = await registrar.locate(full)
    assert not located.ambiguous
    assert located.counts == records.counts
    # The company's name is the registrant's too.
    assert not (await registrar.locate(_ref(*_pairs(full), name=company.name))).ambiguous


def _pairs(subject: SubjectRef) -> list[tuple[IdentifierType, str]]:
    return [(i.type, i.value) for i in subject.identifiers]


async def test_same_person_with_two_customer_numbers_is_one_subject(
    registrar: RegistrarConnector,
) -> None:
    records = _claim(lambda r: r.customer.special == "two_emails")
    first = records.customer
    assert first.partner_index is not None
    second = seeded_registrar(first.partner_index, SEED)
    assert first.personal_identity_number is not None
    by_pnr = _ref((IdentifierType.PERSONAL_IDENTITY_NUMBER, first.personal_identity_number))
    located = await registrar.locate(by_pnr)
    assert not located.ambiguous
    assert located.counts["contacts"] == 2
    expected = {k: records.counts[k] + second.counts[k] for k in records.counts}
    assert located.counts == expected
    emails = {i.value for i in located.learned if i.type is IdentifierType.EMAIL}
    assert emails == {first.email, second.customer.email}


async def test_shared_email_is_ambiguous_and_refused(
    registrar: RegistrarConnector, api: httpx.AsyncClient
) -> None:
    records = _claim(lambda r: r.customer.special == "shared_email")
    subject = _by_email(records.customer)
    located = await registrar.locate(subject)
    assert located.ambiguous
    assert located.ambiguity_reason == "email matches contacts of 2 different holders"
    assert located.learned == []
    for operation in (
        erase_planned(registrar, subject, TODAY),
        registrar.export(subject, RecordingSink()),
        registrar.rectify(subject, [FieldChange(field="city", value="Kiruna")]),
        registrar.restrict(subject),
    ):
        with pytest.raises(AmbiguousSubject) as error:
            await operation
        assert not leaked_values(str(error.value), personal_values(subject))
    stored = (await api.get(f"/contacts/{records.contacts[0].handle}")).json()
    assert stored["address"]["city"] == records.customer.city
    assert stored["restricted"] is False


async def test_a_name_that_does_not_match_is_ambiguous(registrar: RegistrarConnector) -> None:
    customer = _claim(_plain).customer
    wrong = _ref((IdentifierType.EMAIL, customer.email), name="Helt Annan Person")
    result = await registrar.locate(wrong)
    assert result.ambiguous
    assert (
        result.ambiguity_reason == "email matches a contact whose name differs from the name given"
    )
    for name in (_name(customer).upper(), f"{customer.last_name} {customer.first_name}"):
        right = _ref((IdentifierType.EMAIL, customer.email), name=name)
        assert not (await registrar.locate(right)).ambiguous


async def test_export_records(registrar: RegistrarConnector) -> None:
    records = _claim(lambda r: _plain(r) and len(r.contacts) == 2 and bool(r.domains))
    sink = RecordingSink()
    result = await registrar.export(_by_email(records.customer), sink)
    assert result.counts == records.counts
    contacts = {c["handle"]: c for c in sink.records["contacts"]}
    assert set(contacts) == set(records.handles)
    registrant = contacts[records.contacts[0].handle]
    assert registrant["organisation_number"] == records.customer.organisation_number
    assert registrant["published_in_whois"] is True
    domains = {d["domain"]: d for d in sink.records["domains"]}
    assert set(domains) == {d.name for d in records.domains}
    roles = {
        (r["handle"], r["role"])
        for d in domains.values()
        for r in cast(list[dict[str, str]], d["roles"])
    }
    assert roles == {
        (records.contacts[0].handle, "registrant"),
        (records.contacts[1].handle, "admin"),
    }
    references = [u["reference"] for u in sink.records["registry_updates"]]
    assert len(references) == len(set(references)) == len(records.updates)


async def test_export_sink_errors_are_not_disguised(registrar: RegistrarConnector) -> None:
    class FullDisk:
        async def write(self, category: str, record: dict[str, object]) -> None:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await registrar.export(_by_email(_claim(_plain).customer), FullDisk())


async def test_no_personal_data_in_logs(
    registrar: RegistrarConnector, caplog: pytest.LogCaptureFixture
) -> None:
    records = _claim(lambda r: _plain(r) and bool(r.domains))
    with caplog.at_level(logging.DEBUG):
        full = await discover(registrar, _by_email(records.customer))
        await registrar.export(full, RecordingSink())
        await registrar.rectify(full, [FieldChange(field="city", value="Visby")])
        await registrar.restrict(full)
        await erase_planned(registrar, full, TODAY)
    assert caplog.records, "the connector logs what it did"
    assert not leaked_values(caplog.text, personal_values(full)), "log lines hold personal data"


# --- robustness ---------------------------------------------------------------------------


async def test_retries_through_outages_and_rate_limits(
    registrar_url: str, faulty_urls: dict[str, str]
) -> None:
    records = _claim(lambda r: _plain(r) and bool(r.domains))
    subject = _by_email(records.customer)
    steady, flaky = _connector(registrar_url), _connector(faulty_urls["flaky"], attempts=4)
    try:
        expected = await steady.locate(subject)
        assert await flaky.locate(subject) == expected
        sink = RecordingSink()
        assert (await flaky.export(subject, sink)).counts == records.counts
    finally:
        await steady.aclose()
        await flaky.aclose()


async def test_a_long_retry_after_is_left_to_temporal(faulty_urls: dict[str, str]) -> None:
    connector = _connector(faulty_urls["throttled"], retry_after_cap=5)
    try:
        with pytest.raises(RateLimited) as error:
            await connector.locate(_by_email(_claim(_plain).customer))
        assert error.value.retryable
        assert error.value.retry_after == 120
    finally:
        await connector.aclose()


async def test_an_outage_that_lasts_is_a_retryable_error(faulty_urls: dict[str, str]) -> None:
    connector = _connector(faulty_urls["down"])
    customer = _claim(_plain).customer
    try:
        with pytest.raises(SystemUnavailable) as error:
            await erase_planned(connector, _by_email(customer), TODAY)
        assert "503" in str(error.value)
        assert error.value.__cause__ is None
        assert error.value.__suppress_context__ or error.value.__context__ is None
        assert not leaked_values(str(error.value), [customer.email])
    finally:
        await connector.aclose()


async def test_a_slow_platform_times_out(faulty_urls: dict[str, str]) -> None:
    connector = _connector(faulty_urls["slow"], timeout=0.3, attempts=2)
    try:
        with pytest.raises(SystemUnavailable, match="timed out"):
            await connector.locate(_by_email(_claim(_plain).customer))
    finally:
        await connector.aclose()


async def test_a_redirect_is_a_configuration_error_not_a_success(
    faulty_urls: dict[str, str],
) -> None:
    # The shared client never follows a redirect (it would resend the token elsewhere); a 3xx
    # handed back as an answer would count a DELETE that never happened as a deletion.
    connector = _connector(faulty_urls["moved"], attempts=5, wait_initial=30)
    customer, domain = _claim(_plain).customer, "flyttad-doman.se"
    try:
        with pytest.raises(ConfigurationError, match="HTTP 302") as deletion:
            await connector._delete_domain(domain)  # at once: no 30 s backoff
        with pytest.raises(ConfigurationError, match="HTTP 302") as erasure:
            await erase_planned(connector, _by_email(customer), TODAY)
        for error in (deletion.value, erasure.value):
            assert not error.retryable
            assert error.__cause__ is None
            leaked = leaked_values(exception_text(error), [customer.email, domain])
            assert not leaked, f"{len(leaked)} personal values in the error"
    finally:
        await connector.aclose()


def test_retry_after_is_read_in_both_forms() -> None:
    moment = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", moment) == 30
    assert parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", moment) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_wrong_base_url_is_a_configuration_error(registrar_url: str) -> None:
    connector = RegistrarConnector(f"{registrar_url}/v9", TOKEN, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(ConfigurationError):
            await connector.locate(_ref((IdentifierType.EMAIL, "anna@example.se")))
    finally:
        await connector.aclose()
    with pytest.raises(ConfigurationError):
        RegistrarConnector("ftp://registrar.example", TOKEN)


async def test_bad_token_is_not_retried(registrar_url: str) -> None:
    connector = RegistrarConnector(
        registrar_url, "wrong", retry=RetryPolicy(attempts=5, wait_initial=30)
    )
    try:
        with pytest.raises(AuthenticationError):  # at once: a 30 s backoff would time out
            await connector.locate(_ref((IdentifierType.EMAIL, "anna@example.se")))
    finally:
        await connector.aclose()


async def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DSR_REGISTRAR_BASE_URL", raising=False)
    monkeypatch.delenv("DSR_REGISTRAR_API_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="DSR_REGISTRAR_BASE_URL"):
        RegistrarConnector.from_settings()
    monkeypatch.setenv("DSR_REGISTRAR_BASE_URL", "http://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="DSR_REGISTRAR_API_TOKEN"):
        RegistrarConnector.from_settings()
    monkeypatch.setenv("DSR_REGISTRAR_API_TOKEN", "s3cret-token")
    monkeypatch.setenv("DSR_REGISTRAR_TIMEOUT", "-1")
    with pytest.raises(ConfigurationError) as error:
        RegistrarConnector.from_settings()
    assert "timeout" in str(error.value)
    assert "s3cret" not in str(error.value)
    monkeypatch.setenv("DSR_REGISTRAR_TIMEOUT", "3")
    connector = RegistrarConnector.from_settings()
    await connector.aclose()


# --- consent withdrawal ---------------------------------------------------------------------


async def test_consent_withdrawal_unpublishes_a_private_holder_and_keeps_the_registration(
    registrar: RegistrarConnector, api: httpx.AsyncClient
) -> None:
    """A private holder is published in WHOIS/RDAP only because they opted in: withdrawing that
    consent (Art. 7(3)) redacts them there, told to the registry, while the registration itself
    (a contract) stays. Planned through the shipped policy, so the plan must reach the
    registrar at all (once it said "not concerned" and the person stayed public)."""
    records = _claim(
        lambda r: (
            _plain(r)
            and r.customer.kind == "person"
            and r.contacts[0].kind == "person"
            and r.contacts[0].disclose
            and _has("active")(r)
        )
    )
    person = records.customer
    domain = records.domains_with("active")[0].name
    before = json.dumps((await api.get(f"/rdap/domain/{domain}")).json(), ensure_ascii=False)
    assert person.email.lower() in before.lower()

    subject = await discover(registrar, _by_email(person))
    plan = plan_request(
        load_policy(None),
        RequestKind.CONSENT_WITHDRAWAL,
        {"registrar": await registrar.locate(subject)},
        TODAY,
        {"registrar": registrar.operations},
    ).for_system("registrar")
    assert plan.acts_on("contacts", PlanAction.UNSUBSCRIBE)

    first = await registrar.unsubscribe(subject)
    again = await registrar.unsubscribe(subject)  # a retried activity
    assert first.unsubscribed == again.unsubscribed == {"contacts": 1}
    after = (await api.get(f"/rdap/domain/{domain}")).json()
    text = json.dumps(after, ensure_ascii=False)
    assert person.email.lower() not in text.lower() and _name(person) not in text
    assert after["status"] != ["pending delete"] and after["ldhName"].lower() == domain
    log = await _registry_log(api, records.contacts[0].handle)
    assert any(entry["action"] == "redact" for entry in log.values())


async def test_consent_withdrawal_leaves_an_organisations_contact_published(
    registrar: RegistrarConnector, api: httpx.AsyncClient
) -> None:
    """A company's registrant is published by the registries' rules, not by consent."""
    records = _claim(
        lambda r: _plain(r) and r.customer.kind == "company" and r.contacts[0].disclose
    )
    company = records.customer
    subject = await discover(registrar, _by_email(company))
    assert (await registrar.unsubscribe(subject)).unsubscribed == {}
    domain = records.domains[0].name
    text = json.dumps((await api.get(f"/rdap/domain/{domain}")).json(), ensure_ascii=False)
    assert company.email.lower() in text.lower()


async def test_a_separate_rectification_to_a_value_already_held_cites_no_earlier_proof(
    registrar: RegistrarConnector,
) -> None:
    """A retried attempt cites the registry updates its own first attempt made; a later,
    separate request for a value the contact already holds cites none: the earlier request's
    update is not this one's Art. 19 proof."""
    records = _claim(lambda r: _plain(r) and len(r.contacts) == 1)
    subject = _by_email(records.customer)
    changes = [FieldChange(field="phone", value="070-765 43 21")]
    with operation_first_asked(datetime.now(UTC)):
        first = await registrar.rectify(subject, changes)
    assert first.changed == {"contacts": 1} and first.notified
    with operation_first_asked(datetime.now(UTC) + CLOCK_MARGIN + timedelta(seconds=1)):
        later = await registrar.rectify(subject, changes)
    assert later.changed == {"contacts": 1}  # it holds the value asked for
    assert later.notified == []
