"""The read side of the API over a real store (SQLite) and a real `dsr api` process: health,
OpenAPI, every filter and sort of the list, cursor pagination, the CSV twin, one request, the
monthly report against a seeded month with known outcomes, and who may read what."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.api.desk_stack import REPORT_MONTH, DeskStack

pytestmark = pytest.mark.integration

SEEDED = [f"seed-a{n:02d}" for n in range(1, 9)] + ["seed-b01", "seed-b02"]
READ_ENDPOINTS = [
    "/api/requests",
    "/api/requests.csv",
    "/api/requests/seed-a01",
    "/api/overview",
    "/api/charts",
    f"/api/reports/{REPORT_MONTH}",
]


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["summary"]["request_id"] for item in response.json()["items"]]


def seeded_ids(client: httpx.Client, **params: object) -> list[str]:
    """The seeded requests a filter returns (live requests of other tests are left out)."""
    return ids(client.get("/api/requests", params={"q": "seed-", "limit": 100, **params}))


def test_health_ready_and_openapi(desk: DeskStack) -> None:
    with desk.client(None) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        ready = anonymous.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"store": "ok", "temporal": "ok", "kafka": "ok"}
        spec = anonymous.get("/api/openapi.json").json()
    for path in (
        "/api/requests",
        "/api/requests.csv",
        "/api/requests/{request_id}",
        "/api/requests/{request_id}/{decision}",
        "/api/requests/bulk/{decision}",
        "/api/reports/{month}",
    ):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_the_api_process_serves_metrics_and_probes_like_every_service(desk: DeskStack) -> None:
    """DSR_METRICS_BIND: the same telemetry endpoint as the worker's and the intake's, with the
    Temporal SDK's runtime metrics merged in (its client connects after the runtime is set)."""
    base = f"http://{desk.stack.metrics_bind['api']}"
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    scraped = httpx.get(f"{base}/metrics", timeout=10)
    assert scraped.status_code == 200
    assert "dsr_temporal_runtime_metrics_up 1.0" in scraped.text
    assert "temporal_" in scraped.text.replace("dsr_temporal_runtime_metrics_up", "")


@pytest.mark.parametrize("path", READ_ENDPOINTS)
def test_reading_needs_a_valid_token(desk: DeskStack, path: str) -> None:
    with desk.client(None) as anonymous:
        missing = anonymous.get(path)
        wrong = anonymous.get(path, headers={"Authorization": "Bearer not-a-token"})
        basic = anonymous.get(path, headers={"Authorization": f"Basic {desk.tokens['dpo']}"})
    for response in (missing, wrong, basic):
        assert response.status_code == 401, (path, response.status_code)
        assert response.headers["www-authenticate"] == "Bearer"
    for role in ("dpo", "operator", "auditor"):
        with desk.client(role) as client:
            assert client.get(path).status_code == 200, (path, role)


def test_filters(desk: DeskStack) -> None:
    with desk.client("auditor") as c:
        assert sorted(seeded_ids(c)) == sorted(SEEDED)
        assert sorted(seeded_ids(c, status="denied")) == ["seed-a04", "seed-a05"]
        assert sorted(seeded_ids(c, status=["denied", "in_progress"])) == [
            "seed-a04",
            "seed-a05",
            "seed-a06",
        ]
        assert sorted(seeded_ids(c, kind="erasure")) == ["seed-a02", "seed-a03", "seed-b02"]
        assert sorted(seeded_ids(c, channel="email")) == ["seed-a02", "seed-a06"]
        assert sorted(seeded_ids(c, overdue="true")) == ["seed-a06", "seed-a07"]
        assert "seed-a06" not in seeded_ids(c, overdue="false")
        # Due by the end of 2025-04-10 (Stockholm): a1 (04-03), a2 (04-10), a8 (04-01), b1; not
        # a3, due on 04-11.
        assert sorted(seeded_ids(c, due_before="2025-04-10")) == [
            "seed-a01",
            "seed-a02",
            "seed-a08",
            "seed-b01",
        ]
        # Received in March, local days: a8 (00:30 on 1 March) in, b2 (00:30 on 1 April) out.
        march = seeded_ids(c, received_from="2025-03-01", received_to="2025-03-31")
        assert sorted(march) == [f"seed-a{n:02d}" for n in range(1, 9)]
        assert seeded_ids(c, system_outcome="failed") == ["seed-a06"]
        assert sorted(seeded_ids(c, system_outcome="registrar:retained")) == ["seed-a03"]
        assert sorted(seeded_ids(c, system_outcome="hosting:retained")) == ["seed-a03"]
        assert ids(c.get("/api/requests", params={"q": "seed-a01"})) == ["seed-a01"]
        assert ids(c.get("/api/requests", params={"q": "no-such-prefix-"})) == []
        combined = seeded_ids(c, kind="erasure", status="completed", received_to="2025-03-31")
        assert sorted(combined) == ["seed-a02", "seed-a03"]
        for bad in (
            {"status": "nonsense"},
            {"kind": "everything"},
            {"due_before": "31/12/2026"},
            {"system_outcome": "billing:exploded"},
            {"sort": "email"},
            {"limit": 0},
            {"cursor": "garbage"},
        ):
            assert c.get("/api/requests", params=bad).status_code == 422, bad
        # Days at the ends of the calendar: all or nothing, never an overflow (it was a 500:
        # 0001-01-01 in Stockholm time lies before year 1 in UTC).
        assert sorted(seeded_ids(c, received_from="0001-01-01")) == sorted(SEEDED)
        assert sorted(seeded_ids(c, received_to="9999-12-31")) == sorted(SEEDED)
        assert sorted(seeded_ids(c, due_before="9999-12-31")) == sorted(SEEDED)
        assert seeded_ids(c, received_to="0001-01-01") == []
        assert seeded_ids(c, received_from="9999-12-31") == []
        for page in ("/requests", "/api/requests.csv"):
            response = c.get(
                page, params={"received_from": "0001-01-01", "due_before": "9999-12-31"}
            )
            assert response.status_code == 200, page
        for month in ("0001-01", "9999-12"):
            assert c.get(f"/api/reports/{month}").status_code == 422, month
            assert c.get(f"/reports/{month}").status_code == 422, month


def test_sorting_and_cursor_pagination(desk: DeskStack) -> None:
    with desk.client("operator") as c:
        newest_first = seeded_ids(c)
        assert newest_first[0] == "seed-b02" and newest_first[-1] == "seed-b01"
        by_due = seeded_ids(c, sort="due_at", order="asc")
        assert by_due[0] == "seed-b01" and by_due[-1] == "seed-a07"  # a7's deadline was extended
        assert seeded_ids(c, sort="request_id", order="asc") == sorted(SEEDED)

        pages: list[str] = []
        params: dict[str, object] = {"q": "seed-", "limit": 3, "sort": "due_at", "order": "asc"}
        while True:
            body = c.get("/api/requests", params=params).json()
            assert body["total"] == (None if "cursor" in params else len(SEEDED))
            pages += [item["summary"]["request_id"] for item in body["items"]]
            if body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]
        assert pages == by_due  # every request once, in order, across 4 pages
        other_sort = c.get(
            "/api/requests",
            params={"q": "seed-", "sort": "received_at", "cursor": params["cursor"]},
        )
        assert other_sort.status_code == 422  # a cursor belongs to its sort order


def test_csv_is_the_filtered_list(desk: DeskStack) -> None:
    with desk.client("auditor") as c:
        response = c.get("/api/requests.csv", params={"q": "seed-", "kind": "erasure"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["request_id"] for r in rows) == ["seed-a02", "seed-a03", "seed-b02"]
    a2 = next(r for r in rows if r["request_id"] == "seed-a02")
    assert a2["status"] == "completed" and a2["due_date"] == "2025-04-10"
    assert a2["systems"] == "billing:retained registrar:done"


def test_one_request(desk: DeskStack) -> None:
    with desk.client("auditor") as c:
        view = c.get("/api/requests/seed-a07").json()
        missing = c.get("/api/requests/seed-nope")
        a2 = c.get("/api/requests/seed-a02").json()
    assert missing.status_code == 404
    assert view["source"] == "store"  # no workflow behind a seeded request
    assert view["summary"]["extension"]["reason"] == "complex request across systems"
    assert view["due_date"] == "2025-06-20" and view["overdue"] is True
    assert view["days_left"] < 0
    assert view["allowed_decisions"] == ["approve", "deny", "cancel"]  # too late to extend
    assert "deadline (2025-06-20) has passed" in view["extension_unavailable"]
    assert "already extended once" in view["extension_unavailable"]
    [billing, registrar] = a2["summary"]["systems"]
    assert billing["retained"][0]["until"] == "2032-12-31"
    assert registrar["notified"] == ["se-registry"]
    assert a2["allowed_decisions"] == []  # answered
    assert a2["extension_unavailable"] == "the request is completed: its deadline no longer runs"


def test_report_figures_match_the_seeded_month(desk: DeskStack) -> None:
    with desk.client("auditor") as c:
        report = c.get(f"/api/reports/{REPORT_MONTH}").json()
        as_csv = c.get(f"/api/reports/{REPORT_MONTH}", params={"format": "csv"})
        as_html = c.get(f"/api/reports/{REPORT_MONTH}", params={"format": "html"})
        negotiated = c.get(f"/api/reports/{REPORT_MONTH}", headers={"Accept": "text/csv"})
        assert c.get("/api/reports/2025-13").status_code == 422
        assert c.get("/api/reports/March").status_code == 422
    assert report["received"] == 8
    assert report["by_kind"] == {
        "access": 2,
        "erasure": 2,
        "objection": 1,
        "portability": 1,
        "rectification": 1,
        "restriction": 1,
    }
    assert report["by_channel"] == {"email": 2, "letter": 1, "phone": 1, "portal": 4}
    assert (report["on_time"], report["late"], report["still_open"]) == (5, 1, 2)
    assert report["overdue_open"] == 2
    # Completed: a8 1 day, a1 2, a3 10, a2 41 → median 6, 95th percentile (nearest rank) 41.
    assert report["completed"] == 4
    assert report["median_days_to_complete"] == 6.0
    assert report["p95_days_to_complete"] == 41.0
    assert report["denials_by_reason"] == {"excessive": 1, "insufficient_verification": 1}
    assert report["retained_by_reason"] == {"backup_expiry": 2, "bookkeeping": 5, "contract": 1}
    assert report["retained_requests_by_reason"] == {
        "backup_expiry": 1,
        "bookkeeping": 1,
        "contract": 1,
    }
    assert report["recipients_notified"] == {"se-registry": 2}
    [extension] = report["extensions"]
    assert extension["request_id"] == "seed-a07" and extension["months"] == 2

    assert as_csv.headers["content-type"].startswith("text/csv")
    assert negotiated.text == as_csv.text
    lines = set(as_csv.text.splitlines())
    assert {"deadline,on_time,5", "deadline,late,1", "days_to_complete,median,6"} <= lines
    assert "denials_by_reason,excessive,1" in lines
    assert as_html.headers["content-type"].startswith("text/html")
    assert 'id="r-on-time">5<' in as_html.text and "chart.umd.min.js" in as_html.text
