"""The newsletter sandbox's HTTP API, against the real server (uvicorn subprocess, seeded SQLite).

Checks that it answers like listmonk (envelope, pagination, auth, errors as `{"message"}`), that
the blocklist and the import refuse erased addresses, and that no error repeats what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.localstack import free_port, sandbox_server
from sandbox.newsletter import blocklist_hash, seed_newsletter, seeded_newsletter
from sandbox.newsletter._options import NewsletterOptions
from sandbox.newsletter.app import create_app
from sandbox.people import generate_customers

SEED = 9
CUSTOMERS = 200
USER = "api-test"
TOKEN = "app-test-token"
SALT = "app-test-salt"


@dataclass
class Server:
    url: str
    database: Path


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    root = tmp_path_factory.mktemp("newsletter-app")
    database = root / "newsletter.db"
    url = f"sqlite+aiosqlite:///{database}"
    await seed_newsletter(url, CUSTOMERS, SEED, blocklist_salt=SALT)
    port = free_port()
    options = {"api_user": USER, "api_token": TOKEN, "blocklist_salt": SALT}
    process = await asyncio.to_thread(sandbox_server, "newsletter", port, url, root, options)
    try:
        yield Server(f"http://127.0.0.1:{port}", database)
    finally:
        process.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"token {USER}:{TOKEN}"}, timeout=5
    ) as client:
        yield client


def _subscribers() -> Iterator[Any]:
    for customer in generate_customers(CUSTOMERS, SEED):
        seeded = seeded_newsletter(customer.index, SEED)
        record = seeded.activity.subscriber
        if record is not None and customer.special is None:
            yield seeded


_pool = _subscribers()


def _find(api: httpx.Client, query: str, **params: Any) -> dict[str, Any]:
    response = api.get("/api/subscribers", params={"query": query, **params})
    response.raise_for_status()
    data: dict[str, Any] = response.json()["data"]
    return data


def _one(api: httpx.Client, email: str) -> dict[str, Any]:
    [subscriber] = _find(api, f"subscribers.email = '{email}'")["results"]
    found: dict[str, Any] = subscriber
    return found


# --- auth and health ----------------------------------------------------------------------


def test_health_needs_no_credentials(server: Server) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"data": True}
    assert httpx.get(f"{server.url}/api/health").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        f"token {USER}:wrong",
        f"token wrong:{TOKEN}",
        f"token {USER}{TOKEN}",
        "Bearer abc",
        "Basic not-base64!",
    ],
)
def test_wrong_or_missing_credentials_are_401(server: Server, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{server.url}/api/lists", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": "invalid API credentials"}


def test_basic_auth_works_like_token_auth(server: Server) -> None:
    basic = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    response = httpx.get(f"{server.url}/api/lists", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200


# --- search and pagination ----------------------------------------------------------------


def test_search_by_email_and_by_customer_number(api: httpx.Client) -> None:
    seeded = next(_pool)
    customer = seeded.customer
    by_email = _find(api, f"subscribers.email = '{customer.email.upper()}'")
    assert by_email["total"] == 1
    subscriber = by_email["results"][0]
    assert subscriber["email"] == customer.email
    assert subscriber["attribs"]["customer_number"] == customer.customer_number
    assert len(subscriber["lists"]) == seeded.counts["subscriptions"]
    assert {"subscription_status", "name", "type", "optin"} <= set(subscriber["lists"][0])
    query = f"subscribers.attribs->>'customer_number' = '{customer.customer_number}'"
    assert _find(api, query)["results"] == [subscriber]
    both = _find(api, f"{query} AND subscribers.id = {subscriber['id']}")
    assert both["results"] == [subscriber]
    assert _find(api, f"{query} and subscribers.id = 0")["total"] == 0


def test_quotes_in_values_are_escaped(api: httpx.Client) -> None:
    created = api.post("/api/subscribers", json={"email": "o'brien@example.se", "name": "O'Brien"})
    assert created.status_code == 200
    found = _find(api, "subscribers.email = 'o''brien@example.se'")
    assert [s["name"] for s in found["results"]] == ["O'Brien"]


@pytest.mark.parametrize(
    "query",
    [
        "subscribers.email LIKE '%@gmail.com'",
        "subscribers.email = 'a@b.se'; DROP TABLE subscribers",
        "subscribers.email = 'a@b.se' OR 1=1",
        "subscribers.password = 'x'",
        "subscribers.id = 'one'",
    ],
)
def test_unsupported_queries_are_refused_without_echo(api: httpx.Client, query: str) -> None:
    response = api.get("/api/subscribers", params={"query": query})
    assert response.status_code == 400
    message = response.json()["message"]
    assert "a@b.se" not in message
    assert "gmail" not in message


def test_pages_cover_every_subscriber_once(api: httpx.Client, server: Server) -> None:
    with sqlite3.connect(server.database) as conn:
        expected = [row[0] for row in conn.execute("SELECT id FROM subscribers ORDER BY id")]
    seen: list[int] = []
    page = 1
    while True:
        data = api.get("/api/subscribers", params={"page": page, "per_page": 7}).json()["data"]
        assert data["per_page"] == 7
        assert data["page"] == page
        assert data["total"] == len(expected)
        if not data["results"]:
            break
        seen += [s["id"] for s in data["results"]]
        page += 1
    assert seen == expected


@pytest.mark.parametrize("per_page", ["all", "0", "1001", "-1", "x"])
def test_unbounded_pages_are_refused(api: httpx.Client, per_page: str) -> None:
    response = api.get("/api/subscribers", params={"per_page": per_page})
    assert response.status_code == 400


def test_list_filter(api: httpx.Client) -> None:
    everyone = api.get("/api/subscribers", params={"per_page": 1}).json()["data"]["total"]
    on_list = api.get("/api/subscribers", params={"list_id": 2, "per_page": 1}).json()["data"]
    unsubscribed = api.get(
        "/api/subscribers",
        params={"list_id": 2, "subscription_status": "unsubscribed", "per_page": 1},
    ).json()["data"]
    assert 0 < unsubscribed["total"] < on_list["total"] < everyone


def test_lists(api: httpx.Client) -> None:
    data = api.get("/api/lists", params={"per_page": 2}).json()["data"]
    assert data["total"] == 5
    assert [item["name"] for item in data["results"]] == ["Nyhetsbrev", "Driftinformation"]
    assert data["results"][1]["type"] == "private"
    assert all(item["subscriber_count"] > 0 for item in data["results"])


# --- one subscriber -----------------------------------------------------------------------


def test_export_and_tracking_pages(api: httpx.Client) -> None:
    seeded = next(s for s in _pool if s.counts["link_clicks"] >= 2)
    subscriber = _one(api, seeded.customer.email)
    export = api.get(f"/api/subscribers/{subscriber['id']}/export").json()
    assert set(export) == {"profile", "subscriptions", "campaign_views", "link_clicks"}
    assert export["profile"][0]["email"] == seeded.customer.email
    assert len(export["subscriptions"]) == seeded.counts["subscriptions"]
    assert len(export["campaign_views"]) == seeded.counts["campaign_views"]
    assert len(export["link_clicks"]) == seeded.counts["link_clicks"]
    clicks: list[dict[str, Any]] = []
    page = 1
    while True:
        data = api.get(
            f"/api/subscribers/{subscriber['id']}/link_clicks",
            params={"page": page, "per_page": 1},
        ).json()["data"]
        if not data["results"]:
            break
        clicks += data["results"]
        page += 1
    assert [c["url"] for c in clicks] == [c["url"] for c in export["link_clicks"]]
    assert clicks[0]["url"].startswith("https://www.webbhotell.example/")


def test_unknown_subscriber_is_404(api: httpx.Client) -> None:
    for path in ("/api/subscribers/999999", "/api/subscribers/999999/campaign_views"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json() == {"message": "subscriber not found"}
    assert api.delete("/api/subscribers/999999").status_code == 404


def test_create_update_and_conflicts(api: httpx.Client) -> None:
    created = api.post(
        "/api/subscribers",
        json={"email": " Ny.Prenumerant@Example.se ", "name": "", "lists": [1, 3]},
    )
    assert created.status_code == 200
    subscriber = created.json()["data"]
    assert subscriber["email"] == "ny.prenumerant@example.se"
    assert subscriber["name"] == "ny.prenumerant"  # listmonk names it after the address
    statuses = {s["name"]: s["subscription_status"] for s in subscriber["lists"]}
    assert statuses == {"Nyhetsbrev": "confirmed", "Erbjudanden": "unconfirmed"}  # double opt-in
    taken = next(_pool).customer.email
    duplicate = api.post("/api/subscribers", json={"email": subscriber["email"], "name": "X"})
    assert duplicate.status_code == 409
    path = f"/api/subscribers/{subscriber['id']}"
    assert api.put(path, json={"email": taken}).status_code == 409
    assert api.put(path, json={"email": "no-at-sign"}).status_code == 400
    assert (
        api.post("/api/subscribers", json={"email": "x@example.se", "lists": [99]}).status_code
        == 400
    )
    updated = api.put(path, json={"name": "  Ny  Prenumerant ", "email": "ny@example.se"})
    assert updated.status_code == 200
    assert updated.json()["data"]["name"] == "Ny Prenumerant"
    assert updated.json()["data"]["email"] == "ny@example.se"


def test_validation_errors_name_fields_not_values(api: httpx.Client) -> None:
    secret = "hemlig.person@example.se"
    response = api.put("/api/subscribers/1", json={"email": secret, "unknown_field": secret})
    assert response.status_code == 400
    assert secret not in response.text
    assert "unknown_field" in response.json()["message"]


def test_blocklisting_a_subscriber_unsubscribes_every_list(api: httpx.Client) -> None:
    seeded = next(_pool)
    subscriber = _one(api, seeded.customer.email)
    updated = api.put(f"/api/subscribers/{subscriber['id']}", json={"status": "blocklisted"})
    assert {s["subscription_status"] for s in updated.json()["data"]["lists"]} == {"unsubscribed"}


def test_list_memberships(api: httpx.Client) -> None:
    subscriber = _one(api, next(_pool).customer.email)
    ids, lists = [subscriber["id"]], [1, 2, 3, 4, 5]

    def change(**body: Any) -> dict[str, str]:
        assert api.put("/api/subscribers/lists", json={"ids": ids, **body}).json() == {"data": True}
        after = api.get(f"/api/subscribers/{ids[0]}").json()["data"]
        return {str(s["id"]): s["subscription_status"] for s in after["lists"]}

    left = change(action="unsubscribe", target_list_ids=lists)
    assert set(left.values()) == {"unsubscribed"}
    # `add` without a status adds the missing lists but never re-subscribes somebody who left ...
    added = change(action="add", target_list_ids=lists)
    assert set(added) == {"1", "2", "3", "4", "5"}
    assert {k: v for k, v in added.items() if k in left} == left
    # ... with a status it sets it, as listmonk does.
    assert change(action="add", target_list_ids=[1], status="confirmed")["1"] == "confirmed"
    assert change(action="remove", target_list_ids=lists) == {}
    refused = api.put(
        "/api/subscribers/lists", json={"ids": ids, "action": "add", "target_list_ids": [77]}
    )
    assert refused.status_code == 400


def test_delete_takes_the_tracking_with_it(api: httpx.Client, server: Server) -> None:
    seeded = next(s for s in _pool if s.counts["campaign_views"])
    subscriber_id = _one(api, seeded.customer.email)["id"]
    assert api.delete(f"/api/subscribers/{subscriber_id}").json() == {"data": True}
    with sqlite3.connect(server.database) as conn:
        for table in ("campaign_views", "link_clicks", "subscriber_lists"):
            left = conn.execute(
                f"SELECT count(*) FROM {table} WHERE subscriber_id = ?",  # noqa: S608 - fixed names
                (subscriber_id,),
            ).fetchone()[0]
            assert left == 0, table
    assert api.get(f"/api/subscribers/{subscriber_id}").status_code == 404


# --- blocklist and import -----------------------------------------------------------------


def test_blocklist_hashes(api: httpx.Client) -> None:
    digest = blocklist_hash("ska.sparras@example.se", SALT)
    assert api.get(f"/api/blocklist/hashes/{digest}").status_code == 404
    added = api.post("/api/blocklist/hashes", json={"hashes": [digest, digest]}).json()["data"]
    assert added == {"added": 1, "total": 1}
    again = api.post("/api/blocklist/hashes", json={"hashes": [digest]}).json()["data"]
    assert again["added"] == 0, "adding is idempotent"
    entry = api.get(f"/api/blocklist/hashes/{digest}").json()["data"]
    assert entry["hash"] == digest
    assert api.get("/api/blocklist/hashes/not-a-hash").status_code == 400
    bad = api.post("/api/blocklist/hashes", json={"hashes": ["ska.sparras@example.se"]})
    assert bad.status_code == 400
    assert "ska.sparras" not in bad.text
    listing = api.get("/api/blocklist/hashes", params={"per_page": 1000}).json()["data"]
    assert digest in {item["hash"] for item in listing["results"]}


def test_import_refuses_blocklisted_addresses(api: httpx.Client) -> None:
    erased = next(
        seeded_newsletter(c.index, SEED).customer
        for c in generate_customers(CUSTOMERS, SEED)
        if seeded_newsletter(c.index, SEED).activity.blocklisted
    )
    existing = next(_pool).customer
    response = api.post(
        "/api/import/subscribers",
        json={
            "subscribers": [
                {"email": erased.email.upper(), "name": "Åter Importerad"},
                {"email": existing.email, "name": "Nytt Namn"},
                {"email": "helt.ny@example.se", "name": "Helt Ny"},
                {"email": "trasig-adress", "name": "Trasig"},
            ],
            "lists": [1],
            "overwrite": True,
        },
    )
    data = response.json()["data"]
    assert [r["status"] for r in data["results"]] == [
        "blocklisted",
        "exists",
        "imported",
        "invalid",
    ]
    assert (data["imported"], data["exists"], data["blocklisted"], data["invalid"]) == (1, 1, 1, 1)
    assert _find(api, f"subscribers.email = '{erased.email}'")["total"] == 0
    assert _one(api, existing.email)["name"] == "Nytt Namn"  # overwrite
    assert _one(api, "helt.ny@example.se")["lists"][0]["subscription_status"] == "confirmed"
    created = api.post("/api/subscribers", json={"email": erased.email, "name": "X"})
    assert created.status_code == 400
    assert created.json() == {"message": "E-mail address is blocklisted."}


# --- options --------------------------------------------------------------------------------


def test_options_are_parsed_strictly() -> None:
    assert NewsletterOptions.parse({}).api_user == "dsr"
    assert NewsletterOptions.parse({"rate_limit": "2.5"}).rate_limit == 2.5
    for bad in ({"no_such_option": "1"}, {"fail_requests": "many"}, {"api_token": ""}):
        with pytest.raises(ValueError, match=r"option|empty"):
            NewsletterOptions.parse(bad)
    with pytest.raises(ValueError, match="unknown"):
        create_app("sqlite:///unused.db", typo="1")
