"""The support sandbox's HTTP API, against the real server: Zendesk's shapes, authentication,
cursor pagination, redaction, the two-step user deletion (and the deleted users in between) and
the rate limit."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.localstack import free_port, sandbox_server
from sandbox.support import SeededSupport, seed_support, seeded_support
from sandbox.support._ratelimit import TokenBucket
from sandbox.support.app import create_app

SEED = 3
CUSTOMERS = 120
TOKEN = "app-test-token"


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("support-app")
    db = root / "support.db"
    await seed_support(f"sqlite:///{db}", CUSTOMERS, SEED)
    port = free_port()
    server = sandbox_server(
        "support", port, f"sqlite:///{db}", root / "logs", {"api_token": TOKEN, "rate_limit": "0"}
    )
    try:
        yield f"http://127.0.0.1:{port}", db
    finally:
        server.stop()


@pytest.fixture
async def api(served: tuple[str, Path]) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=served[0], headers=headers) as client:
        yield client


def _users() -> Iterator[SeededSupport]:
    for index in range(CUSTOMERS):
        seeded = seeded_support(index, SEED)
        if seeded.activity.user is not None and seeded.customer.special is None:
            yield seeded


_pool = _users()


async def _user_id(api: httpx.AsyncClient, seeded: SeededSupport) -> int:
    found = await api.get(
        "/api/v2/users/search", params={"query": f"external_id:{seeded.customer.customer_number}"}
    )
    (user,) = found.json()["users"]
    return int(user["id"])


async def test_health_needs_no_token_and_the_api_does(served: tuple[str, Path]) -> None:
    async with httpx.AsyncClient(base_url=served[0]) as anonymous:
        assert (await anonymous.get("/health")).json() == {"status": "ok"}
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
            answer = await anonymous.get("/api/v2/users/1", headers=headers)
            assert answer.status_code == 401
            assert answer.json()["error"] == "Couldn't authenticate you"


async def test_search_by_email_external_id_and_phone(api: httpx.AsyncClient) -> None:
    seeded = next(s for s in _pool if s.activity.user and s.activity.user.phone)
    user = seeded.activity.user
    assert user is not None and user.email is not None and user.phone is not None
    for params in (
        {"query": f"email:{user.email.upper()}"},
        {"query": f'email:"{user.email}"'},
        {"query": f"external_id:{user.external_id}"},
        {"external_id": user.external_id},
        {"query": f"phone:{user.phone}"},
    ):
        body = (await api.get("/api/v2/users/search", params=params)).json()
        assert body["count"] == 1, params
        (found,) = body["users"]
        assert (found["email"], found["external_id"], found["role"]) == (
            user.email,
            user.external_id,
            "end-user",
        )
    nobody = await api.get("/api/v2/users/search", params={"query": "email:nobody@example.se"})
    assert nobody.json()["users"] == []
    free_text = await api.get("/api/v2/users/search", params={"query": "anna"})
    assert free_text.status_code == 400


async def test_cursor_pagination(api: httpx.AsyncClient) -> None:
    seeded = next(s for s in _pool if len(s.activity.tickets) >= 3)
    user_id = await _user_id(api, seeded)
    path = f"/api/v2/users/{user_id}/tickets/requested"
    seen: list[int] = []
    answer = await api.get(path, params={"page[size]": 2})
    while True:
        body = answer.json()
        seen += [t["id"] for t in body["tickets"]]
        assert len(body["tickets"]) <= 2
        if not body["meta"]["has_more"]:
            assert body["links"]["next"] is None
            break
        assert body["meta"]["after_cursor"]
        answer = await api.get(body["links"]["next"])
    assert seen == sorted(seen)
    assert len(seen) == len(seeded.activity.tickets)
    first = (await api.get(path)).json()["tickets"][0]
    assert first["description"] == seeded.activity.tickets[0].comments[0].body
    assert first["requester_id"] == user_id
    for bad in ({"page[size]": 101}, {"page[size]": 0}, {"page[after]": "not-a-cursor"}):
        wrong = await api.get(path, params=bad)
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "InvalidPaginationParameter"
    assert (await api.get("/api/v2/users/999999/tickets/requested")).status_code == 404


async def test_comments_with_attachments_and_redaction(api: httpx.AsyncClient) -> None:
    seeded = next(s for s in _pool if s.activity.tickets and s.activity.tickets[0].attachments)
    user_id = await _user_id(api, seeded)
    (ticket, *_) = (await api.get(f"/api/v2/users/{user_id}/tickets/requested")).json()["tickets"]
    comments = (await api.get(f"/api/v2/tickets/{ticket['id']}/comments")).json()["comments"]
    expected = seeded.activity.tickets[0].comments
    assert [c["body"] for c in comments] == [c.body for c in expected]
    assert [len(c["attachments"]) for c in comments] == [len(c.attachments) for c in expected]
    file = next(a for c in comments for a in c["attachments"])
    assert set(file) >= {"file_name", "content_type", "size", "content_url"}

    name = seeded.customer.name
    redacted = await api.put(
        f"/api/v2/tickets/{ticket['id']}/comments/{comments[0]['id']}/redact", json={"text": name}
    )
    body = redacted.json()["comment"]["body"]
    assert name not in body and "▇" * len(name) in body
    shown = (await api.get(f"/api/v2/tickets/{ticket['id']}")).json()["ticket"]
    assert shown["description"] == body  # the description is the first comment
    again = await api.put(
        f"/api/v2/tickets/{ticket['id']}/comments/{comments[0]['id']}/redact", json={"text": name}
    )
    assert again.json()["comment"]["body"] == body  # idempotent
    elsewhere = await api.put(
        f"/api/v2/tickets/{ticket['id'] + 1}/comments/{comments[0]['id']}/redact",
        json={"text": name},
    )
    assert elsewhere.status_code == 404
    empty = await api.put(
        f"/api/v2/tickets/{ticket['id']}/comments/{comments[0]['id']}/redact", json={"text": ""}
    )
    assert empty.status_code == 400


async def test_two_step_user_deletion_keeps_tickets(
    api: httpx.AsyncClient, served: tuple[str, Path]
) -> None:
    seeded = next(s for s in _pool if s.activity.tickets and s.counts["satisfaction_ratings"])
    user_id = await _user_id(api, seeded)
    assert (await api.delete(f"/api/v2/deleted_users/{user_id}")).status_code == 404  # not yet
    deleted = await api.delete(f"/api/v2/users/{user_id}")
    assert deleted.json()["user"]["active"] is False
    assert (await api.delete(f"/api/v2/users/{user_id}")).status_code == 404
    search = {"query": f"external_id:{seeded.customer.customer_number}"}
    assert (await api.get("/api/v2/users/search", params=search)).json()["users"] == []
    purged = await api.delete(f"/api/v2/deleted_users/{user_id}")
    assert purged.json()["deleted_user"]["id"] == user_id
    assert (await api.get(f"/api/v2/users/{user_id}")).status_code == 404
    with sqlite3.connect(served[1]) as conn:
        tickets = conn.execute("SELECT count(*) FROM tickets WHERE requester_id = ?", (user_id,))
        assert tickets.fetchone()[0] == len(seeded.activity.tickets)  # tickets outlive the user
        ratings = conn.execute(
            "SELECT count(*) FROM satisfaction_ratings WHERE user_id = ?", (user_id,)
        )
        assert ratings.fetchone()[0] == 0


async def test_deleted_users_are_listed_and_shown_until_purged(api: httpx.AsyncClient) -> None:
    """Zendesk's `GET /deleted_users` (pagination only, no filter) and `/deleted_users/{id}`:
    a deleted user keeps its data there until it is purged."""
    first, second = (next(s for s in _pool if s.activity.user is not None) for _ in range(2))
    ids = [await _user_id(api, first), await _user_id(api, second)]
    assert (await api.get(f"/api/v2/deleted_users/{ids[0]}")).status_code == 404  # active
    for user_id in ids:
        assert (await api.delete(f"/api/v2/users/{user_id}")).status_code == 200

    shown = (await api.get(f"/api/v2/deleted_users/{ids[0]}")).json()["deleted_user"]
    user = first.activity.user
    assert user is not None
    assert (shown["id"], shown["name"], shown["email"], shown["phone"]) == (
        ids[0],
        user.name,
        user.email,
        user.phone,
    )
    assert shown["active"] is False and shown["role"] == "end-user"
    assert "external_id" not in shown  # not in Zendesk's deleted user object
    assert shown["url"].endswith(f"/api/v2/deleted_users/{ids[0]}.json")

    listed: list[int] = []
    answer = await api.get("/api/v2/deleted_users", params={"page[size]": 1})
    while True:
        body = answer.json()
        assert len(body["deleted_users"]) <= 1
        listed += [u["id"] for u in body["deleted_users"]]
        if not body["meta"]["has_more"]:
            break
        answer = await api.get(body["links"]["next"])
    assert set(ids) <= set(listed) and listed == sorted(listed)

    assert (await api.delete(f"/api/v2/deleted_users/{ids[0]}")).status_code == 200
    assert (await api.get(f"/api/v2/deleted_users/{ids[0]}")).status_code == 404
    after = (await api.get("/api/v2/deleted_users")).json()["deleted_users"]
    assert ids[0] not in [u["id"] for u in after] and ids[1] in [u["id"] for u in after]
    assert (await api.delete(f"/api/v2/deleted_users/{ids[1]}")).status_code == 200


async def test_ticket_and_call_deletion(api: httpx.AsyncClient, served: tuple[str, Path]) -> None:
    seeded = next(s for s in _pool if s.activity.tickets and s.activity.calls)
    user_id = await _user_id(api, seeded)
    tickets = (await api.get(f"/api/v2/users/{user_id}/tickets/requested")).json()["tickets"]
    ticket_id = tickets[0]["id"]
    assert (await api.delete(f"/api/v2/tickets/{ticket_id}")).status_code == 204
    assert (await api.get(f"/api/v2/tickets/{ticket_id}/comments")).status_code == 404
    assert (await api.delete(f"/api/v2/tickets/{ticket_id}")).status_code == 404
    with sqlite3.connect(served[1]) as conn:
        left = conn.execute("SELECT count(*) FROM comments WHERE ticket_id = ?", (ticket_id,))
        assert left.fetchone()[0] == 0
    calls = (await api.get("/api/v2/calls", params={"user_id": user_id})).json()["calls"]
    assert len(calls) == len(seeded.activity.calls)
    assert all(c["recording_url"].startswith("https://") for c in calls)
    assert (await api.delete(f"/api/v2/calls/{calls[0]['id']}")).status_code == 204
    remaining = (await api.get("/api/v2/calls", params={"user_id": user_id})).json()["calls"]
    assert len(remaining) == len(calls) - 1


async def test_update_user_and_ticket(api: httpx.AsyncClient) -> None:
    first, second = next(_pool), next(_pool)
    user_id = await _user_id(api, first)
    changed = await api.put(
        f"/api/v2/users/{user_id}", json={"user": {"name": "Ny Person", "email": "NY@EXEMPEL.SE"}}
    )
    assert (changed.json()["user"]["name"], changed.json()["user"]["email"]) == (
        "Ny Person",
        "ny@exempel.se",
    )
    assert second.activity.user is not None
    taken = await api.put(
        f"/api/v2/users/{user_id}", json={"user": {"email": second.activity.user.email}}
    )
    assert taken.status_code == 422
    blank = await api.put(f"/api/v2/users/{user_id}", json={"user": {"name": " "}})
    assert blank.status_code == 422
    ticket = (await api.get(f"/api/v2/users/{user_id}/tickets/requested")).json()["tickets"]
    if ticket:
        filed = await api.put(
            f"/api/v2/tickets/{ticket[0]['id']}", json={"ticket": {"external_id": "K1"}}
        )
        assert filed.json()["ticket"]["external_id"] == "K1"
        listed = (await api.get("/api/v2/tickets", params={"external_id": "K1"})).json()
        assert [t["id"] for t in listed["tickets"]] == [ticket[0]["id"]]


async def test_organizations_and_ratings(api: httpx.AsyncClient) -> None:
    company = next(
        seeded_support(i, SEED)
        for i in range(CUSTOMERS)
        if seeded_support(i, SEED).customer.kind == "company"
        and seeded_support(i, SEED).activity.user is not None
    )
    user_id = await _user_id(api, company)
    user = (await api.get(f"/api/v2/users/{user_id}")).json()["user"]
    organization = (await api.get(f"/api/v2/organizations/{user['organization_id']}")).json()
    assert organization["organization"]["name"] == company.customer.name
    assert (
        organization["organization"]["organization_fields"]["organization_number"]
        == company.customer.organisation_number
    )
    rated = next(s for s in _pool if s.counts["satisfaction_ratings"])
    ratings = (
        await api.get(
            "/api/v2/satisfaction_ratings", params={"user_id": await _user_id(api, rated)}
        )
    ).json()["satisfaction_ratings"]
    assert len(ratings) == rated.counts["satisfaction_ratings"]
    assert {r["score"] for r in ratings} <= {"good", "bad"}


async def test_rate_limit_answers_429_with_retry_after(served: tuple[str, Path]) -> None:
    port = free_port()
    server = sandbox_server(
        "support",
        port,
        f"sqlite:///{served[1]}",
        served[1].parent / "logs-limited",
        {"api_token": TOKEN, "rate_limit": "1", "rate_burst": "3"},
    )
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            statuses = [(await c.get("/api/v2/users/1")).status_code for _ in range(6)]
            assert statuses[:3] == [200, 200, 200]
            assert 429 in statuses[3:]
            limited = await c.get("/api/v2/users/1")
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.json()["error"] == "TooManyRequests"
            health = [(await c.get("/health")).status_code for _ in range(5)]
            assert health == [200] * 5  # the supervisor's health check is never limited
    finally:
        server.stop()


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 2, clock=lambda: now[0])
    assert bucket.take() is None and bucket.take() is None
    wait = bucket.take()
    assert wait is not None and abs(wait - 0.5) < 1e-9
    now[0] = 0.5
    assert bucket.take() is None
    now[0] = 100.0
    assert [bucket.take() for _ in range(3)][:2] == [None, None]  # never more than the burst


def test_unknown_options_and_databases_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown"):
        create_app(f"sqlite:///{tmp_path}/x.db", rate="5")
    with pytest.raises(ValueError, match="SQLite"):
        create_app("postgresql://localhost/support")
