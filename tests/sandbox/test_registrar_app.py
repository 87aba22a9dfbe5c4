"""The registrar sandbox as a server: admin API (token, searches, pages, changes pushed to the
registry log) and public RDAP, whose answers are checked against RFC 9083 (and RFC 9537 for
redaction) in every member the sandbox emits.

The server runs as a subprocess on a free port (exactly as `python -m sandbox.serve` runs it) on
a database seeded once for the module. Tests that change data each take their own customer.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.localstack import free_port, sandbox_server
from sandbox.people import generate_customers
from sandbox.registrar import (
    HOSTMASTER,
    RegistrarOptions,
    RegistrarRecords,
    registrar_records,
    seed_registrar,
)

SEED = 11
COUNT = 150
TOKEN = "app-test-token"
RDAP_TYPE = "application/rdap+json"

# --- RFC 9083 / RFC 9537 checks -----------------------------------------------------------

# IANA RDAP JSON values registry (RFC 9083 section 10.2, RFC 8056 for the EPP statuses).
STATUS_VALUES = {
    "validated", "renew prohibited", "update prohibited", "transfer prohibited",
    "delete prohibited", "proxy", "private", "removed", "obscured", "associated", "active",
    "inactive", "locked", "pending create", "pending renew", "pending transfer",
    "pending update", "pending delete", "add period", "auto renew period",
    "client delete prohibited", "client hold", "client renew prohibited",
    "client transfer prohibited", "client update prohibited", "pending restore",
    "redemption period", "renew period", "server delete prohibited", "server renew prohibited",
    "server transfer prohibited", "server update prohibited", "server hold", "transfer period",
}  # fmt: skip
EVENT_ACTIONS = {
    "registration", "reregistration", "last changed", "expiration", "deletion",
    "reinstantiation", "transfer", "locked", "unlocked", "last update of RDAP database",
    "registrar expiration", "enduring validation",
}  # fmt: skip
ROLES = {
    "registrant", "technical", "administrative", "abuse", "billing", "registrar", "reseller",
    "sponsor", "proxy", "notifications", "noc",
}  # fmt: skip
NOTICE_TYPES = {
    "result set truncated due to authorization", "result set truncated due to excessive load",
    "result set truncated due to unexplainable reasons", "object truncated due to authorization",
    "object truncated due to excessive load", "object truncated due to unexplainable reasons",
}  # fmt: skip
REDACTION_METHODS = {"removal", "emptyValue", "partialValue", "replacementValue"}
DOMAIN_MEMBERS = {
    "rdapConformance", "objectClassName", "handle", "ldhName", "unicodeName", "variants",
    "nameservers", "secureDNS", "entities", "status", "publicIds", "remarks", "links", "port43",
    "events", "network", "notices", "lang", "redacted",
}  # fmt: skip
ENTITY_MEMBERS = {
    "rdapConformance", "objectClassName", "handle", "vcardArray", "roles", "publicIds",
    "entities", "remarks", "links", "events", "asEventActor", "status", "port43", "networks",
    "autnums", "notices", "lang", "redacted",
}  # fmt: skip
LDH = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def check_links(links: Any) -> None:
    assert isinstance(links, list)
    for link in links:
        assert isinstance(link["href"], str)  # required
        assert set(link) <= {"value", "rel", "href", "hreflang", "title", "media", "type"}
        assert all(isinstance(v, str) for v in link.values())


def check_notices(notices: Any) -> None:
    assert isinstance(notices, list)
    for notice in notices:
        assert set(notice) <= {"title", "type", "description", "links"}
        assert isinstance(notice.get("title", ""), str)
        assert isinstance(notice["description"], list)
        assert all(isinstance(line, str) for line in notice["description"])
        if "type" in notice:
            assert notice["type"] in NOTICE_TYPES
        if "links" in notice:
            check_links(notice["links"])


def check_events(events: Any) -> None:
    assert isinstance(events, list)
    for event in events:
        assert event["eventAction"] in EVENT_ACTIONS
        assert RFC3339.match(event["eventDate"]), event["eventDate"]


def check_jcard(card: Any) -> dict[str, list[Any]]:
    """RFC 7095 jCard: ["vcard", [[name, {params}, type, value...], ...]], version 4.0 first."""
    assert card[0] == "vcard"
    properties = card[1]
    assert properties[0] == ["version", {}, "text", "4.0"]
    found: dict[str, list[Any]] = {}
    for prop in properties:
        name, params, kind = prop[0], prop[1], prop[2]
        assert name == name.lower() and isinstance(params, dict) and isinstance(kind, str)
        assert len(prop) >= 4
        found[name] = prop
    assert "fn" in found  # FN is required in vCard 4.0
    if "adr" in found:
        assert isinstance(found["adr"][3], list) and len(found["adr"][3]) == 7
    return found


def check_entity(entity: Any, *, top_level: bool = False) -> dict[str, list[Any]]:
    assert entity["objectClassName"] == "entity"
    assert set(entity) <= ENTITY_MEMBERS
    if not top_level:
        assert "rdapConformance" not in entity and "notices" not in entity
    if "handle" in entity:
        assert isinstance(entity["handle"], str)
    assert set(entity.get("roles", [])) <= ROLES
    for member, check in (("links", check_links), ("remarks", check_notices)):
        if member in entity:
            check(entity[member])
    if "events" in entity:
        check_events(entity["events"])
    return check_jcard(entity["vcardArray"])


def check_redacted(response: Any) -> None:
    """RFC 9537: the `redacted` member, announced in rdapConformance."""
    if "redacted" not in response:
        return
    assert "redacted" in response["rdapConformance"]
    for item in response["redacted"]:
        assert isinstance(item["name"].get("type") or item["name"].get("description"), str)
        assert item["method"] in REDACTION_METHODS
        assert item.get("pathLang", "jsonpath") == "jsonpath"
        path = item["prePath"] if item["method"] == "removal" else item["postPath"]
        assert isinstance(path, str) and path.startswith("$")
        assert isinstance(item["reason"]["description"], str)


def check_top_level(response: Any) -> None:
    conformance = response["rdapConformance"]
    assert isinstance(conformance, list) and "rdap_level_0" in conformance
    check_notices(response.get("notices", []))
    check_redacted(response)


def check_domain(response: Any) -> list[dict[str, list[Any]]]:
    check_top_level(response)
    assert response["objectClassName"] == "domain"
    assert set(response) <= DOMAIN_MEMBERS
    assert LDH.match(response["ldhName"])
    assert isinstance(response["handle"], str)
    assert response["status"] and set(response["status"]) <= STATUS_VALUES
    check_events(response["events"])
    check_links(response["links"])
    return [check_entity(e) for e in response["entities"]]


def check_error(response: httpx.Response, code: int) -> None:
    assert response.status_code == code
    assert response.headers["content-type"].startswith(RDAP_TYPE)
    body = response.json()
    assert body["errorCode"] == code
    assert isinstance(body["title"], str)
    assert all(isinstance(line, str) for line in body["description"])
    check_top_level(body)


# --- the server ---------------------------------------------------------------------------

_taken: set[int] = set()


def _take(predicate: Callable[[RegistrarRecords], bool]) -> RegistrarRecords:
    for customer in generate_customers(COUNT, SEED):
        records = registrar_records(customer, SEED)
        if customer.index not in _taken and records.present and predicate(records):
            _taken.add(customer.index)
            return records
    raise LookupError("no untaken seeded customer fits")


@pytest.fixture(scope="session")
async def app_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('registrar-app') / 'registrar.db'}"
    await seed_registrar(url, COUNT, SEED)
    return url


@pytest.fixture(scope="session")
def app_url(app_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = sandbox_server(
        "registrar",
        port,
        app_db,
        tmp_path_factory.mktemp("registrar-app-logs"),
        {"api_token": TOKEN, "max_page_size": "3"},
    )
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture
async def admin(app_url: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=app_url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
async def public(app_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app_url, timeout=5) as client:
        yield client


# --- admin API ----------------------------------------------------------------------------


async def test_admin_needs_the_token(public: httpx.AsyncClient) -> None:
    assert (await public.get("/health")).status_code == 200
    missing = await public.get("/contacts/ICTW-000002")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await public.post(
        "/contacts/search",
        json={"field": "email", "value": "x@example.se"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert wrong.status_code == 401


async def test_search_by_every_identifier(admin: httpx.AsyncClient) -> None:
    records = _take(lambda r: r.customer.kind == "person" and r.customer.status == "active")
    contact = records.contacts[0]
    customer = records.customer
    for field, value in (
        ("email", customer.email.upper()),  # e-mail is compared case-insensitively
        ("customer_number", customer.customer_number.lower()),
        ("personal_identity_number", customer.personal_identity_number),
        ("phone", customer.phone),
        ("handle", contact.handle.lower()),
    ):
        page = (await admin.post("/contacts/search", json={"field": field, "value": value})).json()
        assert [c["handle"] for c in page["items"]] == [contact.handle], field
        assert page["next_cursor"] is None
    found = page["items"][0]
    assert found["name"] == contact.name
    assert found["address"]["postcode"] == customer.postcode
    assert found["disclose"] is contact.disclose
    assert (
        await admin.post("/contacts/search", json={"field": "name", "value": "x"})
    ).status_code == 422
    bad = await admin.post("/contacts/search", json={"field": "email", "value": "a", "cursor": "x"})
    assert bad.status_code == 400
    assert (await admin.get("/contacts/ICTW-999999")).status_code == 404


async def test_lists_are_paged(admin: httpx.AsyncClient) -> None:
    records = _take(lambda r: len(r.contacts) == 2 and len(r.updates) >= 2)
    handles: list[str] = []
    cursor: str | None = None
    while True:
        body: dict[str, Any] = {"field": "email", "value": records.customer.email, "limit": 1}
        if cursor:
            body["cursor"] = cursor
        page = (await admin.post("/contacts/search", json=body)).json()
        handles += [c["handle"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert handles == records.handles
    updates = (
        await admin.get("/registry/updates", params={"handle": records.handles, "limit": 1000})
    ).json()
    assert updates["total"] == len(records.updates)
    assert len(updates["items"]) == min(3, len(records.updates))  # max_page_size caps the limit


async def test_domains_with_roles(admin: httpx.AsyncClient) -> None:
    records = _take(lambda r: len(r.contacts) == 2 and bool(r.domains))
    registrant, admin_contact = records.handles
    listed = (await admin.get("/domains", params={"contact": records.handles})).json()
    assert listed["total"] == len(records.domains)
    first = listed["items"][0]
    assert first["name"] == records.domains[0].name
    assert {(r["handle"], r["role"]) for r in first["roles"]} == {
        (registrant, "registrant"),
        (admin_contact, "admin"),
    }  # only the asked-for contacts' roles
    one = (await admin.get(f"/contacts/{admin_contact}/domains")).json()
    assert [d["name"] for d in one["items"]] == [d.name for d in records.domains][:3]
    domain = (await admin.get(f"/domains/{records.domains[0].name.upper()}")).json()
    assert (HOSTMASTER.handle, "tech", "role") in {
        (r["handle"], r["role"], r["kind"]) for r in domain["roles"]
    }
    assert (await admin.get("/domains", params={"contact": []})).status_code in (400, 422)


async def test_changes_are_pushed_to_the_registry_log(admin: httpx.AsyncClient) -> None:
    records = _take(lambda r: r.customer.kind == "person" and len(r.contacts[0].registries) == 2)
    handle = records.handles[0]
    changed = (
        await admin.patch(f"/contacts/{handle}", json={"email": "Ny.Adress@Example.se"})
    ).json()
    assert changed["changed"] is True
    assert changed["contact"]["email"] == "ny.adress@example.se"
    pushed = changed["registry_updates"]
    assert sorted(u["registry"] for u in pushed) == ["gtld", "se"]
    assert sorted(u["reference"][:3] for u in pushed) == ["IIS", "VRS"]
    for update in pushed:
        assert update["action"] == "update"
        assert update["fields"] == ["email"]
        assert "ny.adress" not in json.dumps(update)  # the log names fields, never values
        assert (await admin.get(f"/registry/updates/{update['reference']}")).json() == update
    same = (await admin.patch(f"/contacts/{handle}", json={"email": "ny.adress@example.se"})).json()
    assert same["changed"] is False and same["registry_updates"] == []
    for body in ({"email": "not-an-address"}, {"personal_identity_number": "1"}, {}):
        assert (await admin.patch(f"/contacts/{handle}", json=body)).status_code in (400, 422)
    assert (await admin.get("/registry/updates/IIS-9999999999")).status_code == 404
    assert (await admin.get("/registry/updates/nonsense")).status_code == 404


async def test_flags_are_idempotent_and_pushed_once(admin: httpx.AsyncClient) -> None:
    records = _take(lambda r: r.customer.kind == "company" and len(r.contacts[0].registries) >= 1)
    handle = records.handles[0]
    for action, flag, value in (
        ("restrict", "restricted", True),
        ("redact", "disclose", False),
        ("lift-restriction", "restricted", False),
    ):
        first = (await admin.post(f"/contacts/{handle}/{action}")).json()
        again = (await admin.post(f"/contacts/{handle}/{action}")).json()
        assert first["changed"] is True and again["changed"] is False
        assert first["contact"][flag] is value
        assert [u["reference"] for u in again["registry_updates"]] == [
            u["reference"] for u in first["registry_updates"]
        ]
        assert len(first["registry_updates"]) == len(records.contacts[0].registries)


async def test_delete_only_without_active_registrations(admin: httpx.AsyncClient) -> None:
    holder = _take(lambda r: bool(r.domains_with("active")))
    refused = await admin.delete(f"/contacts/{holder.handles[0]}")
    assert refused.status_code == 409
    assert (
        await admin.delete(f"/domains/{holder.domains_with('active')[0].name}")
    ).status_code == 409

    lapsed = _take(
        lambda r: bool(r.domains) and not r.domains_with("active") and len(r.contacts) == 1
    )
    handle = lapsed.handles[0]
    deleted = (await admin.delete(f"/contacts/{handle}")).json()
    assert deleted["domains_deleted"] == len(lapsed.domains)  # nobody else holds them
    assert [u["action"] for u in deleted["registry_updates"]] == ["delete"] * len(
        lapsed.contacts[0].registries
    )
    assert (await admin.delete(f"/contacts/{handle}")).status_code == 404
    assert (await admin.get(f"/domains/{lapsed.domains[0].name}")).status_code == 404
    log = (await admin.get("/registry/updates", params={"handle": [handle]})).json()
    assert log["total"] == len(lapsed.updates) + len(deleted["registry_updates"])  # log outlives it
    assert (await admin.delete(f"/contacts/{HOSTMASTER.handle}")).status_code == 409


# --- public RDAP --------------------------------------------------------------------------


async def test_rdap_of_a_disclosed_holder(public: httpx.AsyncClient) -> None:
    records = _take(lambda r: len(r.contacts) == 2 and bool(r.domains_with("active")))
    domain = records.domains_with("active")[0]
    response = await public.get(f"/rdap/domain/{domain.name}")
    assert response.headers["content-type"].startswith(RDAP_TYPE)
    rdap = response.json()
    cards = check_domain(rdap)
    assert rdap["ldhName"] == domain.name
    assert rdap["status"] == ["active"]
    assert "redacted" not in rdap and rdap["rdapConformance"] == ["rdap_level_0"]
    entities = {
        tuple(e["roles"]): (e, card) for e, card in zip(rdap["entities"], cards, strict=True)
    }
    registrant, card = entities[("registrant",)]
    contact = records.contacts[0]
    assert registrant["handle"] == contact.handle
    assert card["fn"][3] == contact.name
    assert card["org"][3] == contact.organisation
    assert card["email"][3] == contact.email
    assert card["tel"][3] == f"tel:{contact.phone}"
    assert card["adr"][3][2] == contact.street
    assert ("administrative",) in entities and ("technical",) in entities
    assert ("registrar",) in entities
    events = {e["eventAction"]: e["eventDate"] for e in rdap["events"]}
    assert datetime.fromisoformat(events["expiration"]) == domain.expires_at


async def test_rdap_of_a_private_holder_shows_no_personal_data(public: httpx.AsyncClient) -> None:
    records = _take(
        lambda r: r.customer.kind == "person" and not r.contacts[0].disclose and bool(r.domains)
    )
    customer = records.customer
    rdap = (await public.get(f"/rdap/domain/{records.domains[0].name}")).json()
    cards = check_domain(rdap)
    text = json.dumps(rdap, ensure_ascii=False).lower()
    for value in (
        customer.name,
        customer.email,
        customer.phone,
        customer.street,
        customer.personal_identity_number,
        records.handles[0],
    ):
        assert value is not None and value.lower() not in text
    assert "redacted" in rdap["rdapConformance"]
    names = {item["name"]["type"] for item in rdap["redacted"]}
    assert {"Registrant Name", "Registrant Street", "Registrant Email", "Registrant Phone"} <= names
    registrant = next(
        card for e, card in zip(rdap["entities"], cards, strict=True) if "registrant" in e["roles"]
    )
    assert registrant["fn"][3] == "REDACTED FOR PRIVACY"
    assert "email" not in registrant and "tel" not in registrant
    status = {d.name: d.status for d in records.domains}[records.domains[0].name]
    expected_status = {"active": ["active"], "expired": ["inactive", "redemption period"]}
    assert rdap["status"] == expected_status.get(status, ["pending delete"])

    entity = (await public.get(f"/rdap/entity/{records.handles[0]}")).json()
    check_top_level(entity)
    card = check_entity(entity, top_level=True)
    assert card["fn"][3] == "REDACTED FOR PRIVACY"
    assert customer.email not in json.dumps(entity)


async def test_redaction_takes_effect_in_rdap(
    admin: httpx.AsyncClient, public: httpx.AsyncClient
) -> None:
    records = _take(lambda r: r.customer.kind == "company" and bool(r.domains))
    path = f"/rdap/domain/{records.domains[0].name}"
    assert records.customer.email in (await public.get(path)).text
    for handle in records.handles:
        await admin.post(f"/contacts/{handle}/redact")
    rdap = (await public.get(path)).json()
    check_domain(rdap)
    text = json.dumps(rdap, ensure_ascii=False)
    assert records.customer.email not in text
    assert str(records.customer.contact_name) not in text
    assert records.customer.name in text  # the company's own name is no personal data


async def test_rdap_errors(public: httpx.AsyncClient) -> None:
    check_error(await public.get("/rdap/domain/no-such-domain-here.se"), 404)
    check_error(await public.get("/rdap/entity/ICTW-999999"), 404)
    check_error(await public.get("/rdap/domain/not_a_domain"), 400)
    check_error(await public.get("/rdap/nameserver/ns1.example.se"), 404)


def test_options_fail_loudly() -> None:
    assert RegistrarOptions.parse({}).api_token == "sandbox-registrar-token"
    parsed = RegistrarOptions.parse({"max_page_size": "5", "latency": "0.5", "api_token": "t"})
    assert (parsed.max_page_size, parsed.latency, parsed.api_token) == (5, 0.5, "t")
    for bad in (
        {"rate_limt": "1"},
        {"throttle_every": "-1"},
        {"latency": "999"},
        {"max_page_size": "0"},
    ):
        with pytest.raises(ValueError, match="registrar option"):
            RegistrarOptions.parse(bad)


def test_serve_knows_the_registrar(tmp_path: Path) -> None:
    from sandbox.serve import create_app

    app = create_app("registrar", f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", api_token="x")
    paths = set(app.openapi()["paths"])
    assert {"/health", "/contacts/search", "/rdap/domain/{name}", "/registry/updates"} <= paths
