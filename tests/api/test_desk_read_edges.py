"""Reads at the edges, in process (tests/api/_inproc.py) over both stores (tests/store's
fixtures: SQLite and the local PostgreSQL): a forged cursor or a control character in the search
is a 422 and an impossible id a 404, never a 500 from the database; the overview's "due this
week" and the list its card opens are the same requests; and the audit verification refuses,
like `dsr audit verify`, to report checkpoints it could not check."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from orchestrator.dpo import Desk, RequestQuery, SortField
from orchestrator.store import Store
from orchestrator.store._queries import InvalidCursor
from schemas.events import Channel, RequestKind
from schemas.records import RequestSummary
from schemas.status import RequestStatus, SystemOutcome, SystemStatus
from tests.api._inproc import FakeTemporal, app_for, client, settings_for
from tests.api.desk_stack import known_requests
from tests.store.conftest import (  # noqa: F401 - fixtures register by import
    database_url,
    make_summary,
    postgres,
    store,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _cursor(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


async def _seeded_app(store: Store, database_url: str) -> FastAPI:  # noqa: F811
    for summary in known_requests():
        await store.upsert_request(summary)
    return app_for(store, FakeTemporal(), settings_for(database_url))


# ── 6. forged cursors ───────────────────────────────────────────────────────────────────────
FORGED = {
    "naive time": ("received_at", "desc", ["received_at", True, "2025-03-10T10:00:00", "seed-a02"]),
    "year 1 east of UTC": (
        "received_at",
        "desc",
        ["received_at", True, "0001-01-01T00:00:00+01:00", "seed-a02"],
    ),
    "year 9999 west of UTC": (
        "due_at",
        "asc",
        ["due_at", False, "9999-12-31T23:00:00-05:00", "seed-a02"],
    ),
    "a date for a moment": ("due_at", "asc", ["due_at", False, "2025-03-10", "seed-a02"]),
    "a number for a moment": ("updated_at", "desc", ["updated_at", True, 1.5e9, "seed-a02"]),
    "null for a moment that is never null": (
        "received_at",
        "desc",
        ["received_at", True, None, "seed-a02"],
    ),
    "a list for a status": ("status", "desc", ["status", True, [1, 2], "seed-a02"]),
    "a dict for a kind": ("kind", "desc", ["kind", True, {"a": 1}, "seed-a02"]),
    "an int for a status": ("status", "desc", ["status", True, 5, "seed-a02"]),
    "a huge int for a status": ("status", "desc", ["status", True, 10**30, "seed-a02"]),
    "no such status": ("status", "desc", ["status", True, "exploded", "seed-a02"]),
    "a NUL in the id": ("received_at", "desc", ["received_at", True, None, "seed\x00"]),
    "an id that is no string": (
        "received_at",
        "desc",
        ["received_at", True, "2025-03-10T10:00:00+00:00", 7],
    ),
    "a NUL in the id sort": ("request_id", "asc", ["request_id", False, "a\x00", "a\x00"]),
    "1 for true": ("received_at", "desc", ["received_at", 1, "2025-03-10T10:00:00+00:00", "x1"]),
    "five parts": ("kind", "desc", ["kind", True, "access", "seed-a02", "more"]),
    "an object": ("kind", "desc", {"sort": "kind"}),
}


@pytest.mark.parametrize("case", list(FORGED))
async def test_a_forged_cursor_is_a_422_on_both_stores(
    store: Store,  # noqa: F811
    database_url: str,  # noqa: F811
    case: str,
) -> None:
    sort, order, document = FORGED[case]
    app = await _seeded_app(store, database_url)
    async with client(app) as api:
        for path in ("/api/requests", "/requests"):
            params = {"cursor": _cursor(document), "sort": sort, "order": order}
            response = await api.get(path, params=params)
            assert response.status_code == 422, (case, path, response.text[:200])
    query = RequestQuery(sort=SortField(sort), descending=order == "desc", cursor=_cursor(document))
    with pytest.raises(InvalidCursor):
        await Desk(store).list_requests(query)


async def test_the_cursors_the_list_writes_still_page_through_it(
    store: Store,  # noqa: F811
    database_url: str,  # noqa: F811
) -> None:
    app = await _seeded_app(store, database_url)
    async with client(app) as api:
        for sort in SortField:
            for order in ("asc", "desc"):
                seen: list[str] = []
                params: dict[str, str | int] = {
                    "q": "seed-",
                    "limit": 3,
                    "sort": sort,
                    "order": order,
                }
                while True:
                    page = (await api.get("/api/requests", params=params)).json()
                    seen += [item["summary"]["request_id"] for item in page["items"]]
                    if page["next_cursor"] is None:
                        break
                    params["cursor"] = page["next_cursor"]
                assert sorted(seen) == sorted(s.request_id for s in known_requests()), sort


# ── 7. control characters and impossible ids, before the database is asked ─────────────────
@pytest.mark.parametrize("q", ["\x00", "seed\x00", "ab\x1bc", "a\x7f"])
async def test_a_control_character_in_the_search_is_a_422(
    store: Store,  # noqa: F811
    database_url: str,  # noqa: F811
    q: str,
) -> None:
    app = await _seeded_app(store, database_url)
    async with client(app) as api:
        for path in ("/api/requests", "/api/requests.csv", "/requests"):
            response = await api.get(path, params={"q": q})
            assert response.status_code == 422, (path, response.text[:200])
            assert "control characters" in response.text
        assert (await api.get("/api/requests", params={"q": "seed-a"})).status_code == 200


@pytest.mark.parametrize("request_id", ["seed\x00", "\x00", "x" * 65, "seed-a0\x01"])
async def test_an_impossible_id_is_a_404_on_both_stores(
    store: Store,  # noqa: F811
    database_url: str,  # noqa: F811
    request_id: str,
) -> None:
    app = await _seeded_app(store, database_url)
    in_path = quote(request_id, safe="")
    async with client(app) as api:
        for path in (f"/api/requests/{in_path}", f"/requests/{in_path}"):
            response = await api.get(path)
            assert response.status_code == 404, (path, response.text[:200])
        assert (await api.get("/api/requests/seed-a01")).status_code == 200
    assert await Desk(store).get_request(request_id) is None  # the front door's own rule


# ── 3. "due this week": the count, its section and the card's list agree ───────────────────
def _due_on(request_id: str, day: object, make: Callable[..., RequestSummary]) -> RequestSummary:
    due_at = datetime.combine(day, datetime.max.time(), STOCKHOLM)  # type: ignore[arg-type]
    received = due_at - timedelta(days=31)
    return make(
        request_id,
        kind=RequestKind.ACCESS,
        channel=Channel.PORTAL,
        status=RequestStatus.IN_PROGRESS,
        received_at=received,
        due_at=due_at,
        due_date=day,
        updated_at=received,
        systems=[SystemStatus(system="billing", outcome=SystemOutcome.RUNNING)],
    )


async def test_due_this_week_is_one_set_of_requests(
    store: Store,  # noqa: F811
    database_url: str,  # noqa: F811
    make_summary: Callable[..., RequestSummary],  # noqa: F811
) -> None:
    today = datetime.now(UTC).astimezone(STOCKHOLM).date()
    for request_id, days in [
        ("due-overdue-1", -3),
        ("due-today-001", 0),
        ("due-plus3-001", 3),
        ("due-plus6-001", 6),
        ("due-plus7-001", 7),
        ("due-plus8-001", 8),
    ]:
        await store.upsert_request(_due_on(request_id, today + timedelta(days=days), make_summary))
    app = app_for(store, FakeTemporal(), settings_for(database_url))
    async with client(app) as api:
        count = (await api.get("/api/overview")).json()["due_this_week"]
        overview = (await api.get("/")).text
        link = re.search(r'class="card soon" href="([^"]+)"', overview)
        assert link, overview
        behind_the_card = (await api.get(link.group(1).replace("&amp;", "&"))).text
        as_json = await api.get("/api/requests" + link.group(1).replace("&amp;", "&")[9:])
    section = overview.split('<section id="due-this-week">')[1].split("</section>")[0]
    expected = ["due-today-001", "due-plus3-001", "due-plus6-001"]
    assert count == len(expected)
    assert re.findall(r'data-request-id="([^"]+)"', section) == expected
    assert re.findall(r'data-request-id="([^"]+)"', behind_the_card) == expected
    assert [i["summary"]["request_id"] for i in as_json.json()["items"]] == expected


# ── 8. the audit verification refuses what it cannot check ─────────────────────────────────
async def test_audit_verify_refuses_checkpoints_it_cannot_check(
    store: Store,  # noqa: F811
    database_url: str,  # noqa: F811
) -> None:
    app = await _seeded_app(store, database_url)
    async with client(app, "auditor") as auditor:
        no_key = await auditor.get("/api/audit/verify")
        assert no_key.status_code == 503, no_key.text
        assert "DSR_AUDIT_PUBLIC_KEY" in no_key.json()["detail"]
        chain_alone = await auditor.get("/api/audit/verify", params={"checkpoints": "false"})
        assert chain_alone.status_code == 200 and chain_alone.json()["ok"] is True
        assert chain_alone.json()["checkpoints"]["checked"] is False

        public = Ed25519PrivateKey.generate().public_key()
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        app.state.settings = app.state.settings.model_copy(
            update={
                "audit_public_key": base64.b64encode(raw).decode(),
                "kafka_bootstrap_servers": "127.0.0.1:1",  # nothing listens there
            }
        )
        no_kafka = await auditor.get("/api/audit/verify")
        assert no_kafka.status_code == 503, no_kafka.text
        assert "checkpoint topic" in no_kafka.json()["detail"]

        app.state.settings = app.state.settings.model_copy(update={"audit_public_key": "xx"})
        bad_key = await auditor.get("/api/audit/verify")
        assert bad_key.status_code == 503 and "base64" in bad_key.json()["detail"]
