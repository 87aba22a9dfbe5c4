"""The dashboard in a real browser (Debian's Chromium via Playwright) against the running desk:
log in, find overdue requests by filter, extend a deadline with a reason and see the new date,
approve a repeated access request, read the charts and the report, and prove that no page shows
a subject's e-mail, personnummer, name or phone — except the audited ambiguity view.
Screenshots: .state/test-artifacts/dashboard/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from sandbox.people import Customer
from tests.api.desk_stack import REPORT_MONTH, DeskStack, wait_for

pytestmark = [
    pytest.mark.integration,
    # pytest 9 + pytest-playwright 0.10 (installed, so loaded) warn about session fixtures.
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
]


def shot(page: Page, artifacts: Path, name: str, **options: Any) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True, **options)


def login(page: Page, token: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")


def submit(desk: DeskStack, customer: Customer, kind: str, *extra: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.cli",
            "submit",
            "--kind",
            kind,
            "--email",
            customer.email,
            *extra,
        ],
        env={**os.environ, **desk.stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def wait_status(desk: DeskStack, request_id: str, *statuses: str, timeout: float = 60) -> dict:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        with desk.client("auditor") as client:
            response = client.get(f"/api/requests/{request_id}")
        if response.status_code == 200:
            seen.update(response.json())
            return seen["summary"]["status"] in statuses
        return False

    wait_for(reached, timeout, f"{request_id} in {statuses}")
    return seen


def test_login_session_cookie_and_csrf(
    desk: DeskStack, desk_page: Page, desk_context: BrowserContext, artifacts: Path
) -> None:
    desk_page.goto("/requests")
    expect(desk_page).to_have_url(re.compile(r"/login\?next=/requests"))
    shot(desk_page, artifacts, "01-login")
    desk_page.fill("#token", "not-a-token")
    desk_page.click("button[type=submit]")
    expect(desk_page.locator(".flash.error")).to_contain_text("not valid")

    desk_page.fill("#token", desk.tokens["dpo"])
    desk_page.click("button[type=submit]")
    expect(desk_page).to_have_url(re.compile(r"/requests$"))  # back where the DPO wanted to go
    [cookie] = [c for c in desk_context.cookies() if c["name"] == "dsr_desk"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"

    # A form posted without the session's CSRF token is refused, even with the cookie.
    forged = desk_page.request.post(
        "/requests/seed-a7/decide", form={"decision": "cancel", "reason": "x", "csrf": "forged"}
    )
    assert forged.status == 403
    missing = desk_page.request.post("/logout", form={"csrf": ""})
    assert missing.status in (403, 422)

    desk_page.click("text=Log out")
    expect(desk_page).to_have_url(re.compile(r"/login"))
    desk_page.goto("/")
    expect(desk_page).to_have_url(re.compile(r"/login"))


def test_find_overdue_requests_by_filter(desk: DeskStack, desk_page: Page, artifacts: Path) -> None:
    login(desk_page, desk.tokens["dpo"])
    overdue_card = desk_page.locator(".card.overdue")
    expect(overdue_card).to_be_visible()
    assert int(desk_page.inner_text("#overdue-count")) >= 2
    color = overdue_card.evaluate("node => getComputedStyle(node).color")
    assert color == "rgb(179, 38, 30)"  # red
    shot(desk_page, artifacts, "02-overview")

    desk_page.click("text=Requests")
    desk_page.select_option("#overdue-filter", "true")
    desk_page.fill("input[name=q]", "seed-")
    desk_page.click("#apply-filters")
    rows = desk_page.locator("table.requests tbody tr")
    expect(rows).to_have_count(2)
    for request_id in ("seed-a6", "seed-a7"):
        row = desk_page.locator(f"tr[data-request-id={request_id}]")
        expect(row).to_have_class(re.compile("overdue"))
        expect(row.locator(".badge.overdue")).to_contain_text("overdue")
    shot(desk_page, artifacts, "03-overdue-filter")

    desk_page.click("text=seed-a7")
    expect(desk_page.locator("#due-date")).to_have_text("2025-06-20")
    expect(desk_page.locator("#extension")).to_contain_text("complex request across systems")
    # Past its deadline and extended once already: no extension is offered.
    expect(desk_page.locator("form[data-decision=extend]")).to_have_count(0)
    shot(desk_page, artifacts, "04-overdue-request")


def test_extend_a_deadline_with_a_reason(desk: DeskStack, desk_page: Page, artifacts: Path) -> None:
    from policy.deadlines import deadline

    customer = desk.stack.fresh_customer()
    received = datetime.now(UTC) - timedelta(days=20)
    request_id = submit(
        desk,
        customer,
        "erasure",
        "--verification",
        "none",
        "--received-at",
        received.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    waiting = wait_status(desk, request_id, "awaiting_verification")
    original = waiting["due_date"]

    login(desk_page, desk.tokens["dpo"])
    desk_page.click("text=Requests")
    desk_page.fill("input[name=q]", request_id)
    desk_page.fill("input[name=due_before]", original)
    desk_page.click("#apply-filters")
    desk_page.click(f"text={request_id}")
    expect(desk_page.locator("#due-date")).to_have_text(original)
    form = desk_page.locator("form[data-decision=extend]")
    form.locator("select[name=months]").select_option("2")
    form.locator("input[name=reason]").fill("the subject's data spans archived systems")
    desk_page.once("dialog", lambda dialog: dialog.accept())
    form.locator("button[type=submit]").click()

    expected, _ = deadline(received, 3)
    expect(desk_page.locator("#due-date")).to_have_text(expected.isoformat())
    expect(desk_page.locator("#extension")).to_contain_text("the subject's data spans archived")
    expect(desk_page.locator("form[data-decision=extend]")).to_have_count(0)  # once only
    expect(desk_page.locator("#timeline")).to_contain_text("deadline extended by test-dpo")
    shot(desk_page, artifacts, "05-extended")
    with desk.client("auditor") as client:
        view = client.get(f"/api/requests/{request_id}").json()
    assert view["summary"]["extension"]["months"] == 2
    assert view["due_date"] == expected.isoformat()


def test_approve_a_repeated_access_request(
    desk: DeskStack, desk_page: Page, artifacts: Path
) -> None:
    customer = desk.stack.fresh_customer()
    first = submit(desk, customer, "access")
    wait_status(desk, first, "completed")
    repeated = submit(desk, customer, "access")
    wait_status(desk, repeated, "awaiting_decision")

    login(desk_page, desk.tokens["dpo"])
    desk_page.goto("/requests?status=awaiting_decision")
    desk_page.click(f"text={repeated}")
    form = desk_page.locator("form[data-decision=approve]")
    form.locator("input[name=note]").fill("second copy this year, free as a courtesy")
    shot(desk_page, artifacts, "06-repeated-access")
    desk_page.once("dialog", lambda dialog: dialog.accept())
    form.locator("button[type=submit]").click()
    expect(desk_page.locator(".flash")).to_contain_text("approve")
    done = wait_status(desk, repeated, "completed")
    desk_page.reload()
    expect(desk_page.locator("h1 .status")).to_have_text("completed")
    shot(desk_page, artifacts, "07-approved")
    assert any(
        d["decision"] == "approve" and d["actor"] == "test-dpo"
        for d in done["summary"]["decisions"]
    )


def test_charts_and_report_use_the_vendored_library(
    desk: DeskStack, desk_page: Page, artifacts: Path
) -> None:
    fetched: list[str] = []
    desk_page.on("request", lambda request: fetched.append(request.url))
    login(desk_page, desk.tokens["auditor"])
    desk_page.click("text=Charts")
    desk_page.wait_for_function(
        "() => [...document.querySelectorAll('canvas[data-chart]')].every(c => c.chart)"
    )
    assert desk_page.evaluate("Chart.version") == "4.6.1"
    shot(desk_page, artifacts, "08-charts")

    desk_page.goto(f"/reports/{REPORT_MONTH}")
    expect(desk_page.locator("#r-received")).to_have_text("8")
    expect(desk_page.locator("#r-on-time")).to_have_text("5")
    expect(desk_page.locator("#r-late")).to_have_text("1")
    expect(desk_page.locator("#r-median")).to_have_text("6")
    expect(desk_page.locator("#r-p95")).to_have_text("41")
    expect(desk_page.locator("#denials")).to_contain_text("excessive")
    desk_page.wait_for_function(
        "() => document.querySelector('canvas[data-chart=report-kind]').chart"
    )
    shot(desk_page, artifacts, "09-report")
    desk_page.emulate_media(media="print")
    expect(desk_page.locator("header.top")).to_be_hidden()
    shot(desk_page, artifacts, "10-report-print")
    assert fetched and all(url.startswith(desk.base_url) for url in fetched), fetched


def _forbidden(customers: list[Customer]) -> dict[str, str]:
    values: dict[str, str] = {}
    for c in customers:
        values[c.email] = "e-mail"
        values[c.name] = "name"
        values[c.phone] = "phone"
        values[c.phone.removeprefix("+46")] = "phone"
        if c.personal_identity_number:
            values[c.personal_identity_number] = "personnummer"
            values[c.personal_identity_number[2:8] + "-" + c.personal_identity_number[8:]] = (
                "personnummer"
            )
    return values


def test_no_personal_data_on_any_page_but_the_audited_ambiguity_view(
    desk: DeskStack, desk_page: Page, artifacts: Path
) -> None:
    from sandbox.billing.seed import seeded_customer

    plain = desk.stack.fresh_customer()
    completed_id = submit(desk, plain, "access")
    pair = desk.stack.seed.examples.shared_email_pair
    assert pair is not None
    household = [
        seeded_customer(i, desk.stack.seed.seed).customer
        for i in range(150)
        if seeded_customer(i, desk.stack.seed.seed).customer.email == pair.emails[0]
    ]
    ambiguous_id = submit(desk, household[0], "erasure")
    wait_status(desk, completed_id, "completed")
    wait_status(desk, ambiguous_id, "needs_attention")
    forbidden = _forbidden([plain, *household])

    login(desk_page, desk.tokens["dpo"])
    pages: dict[str, str] = {}
    to_visit = ["/", "/requests?limit=500", "/charts", f"/reports/{REPORT_MONTH}"]
    while to_visit:
        path = to_visit.pop()
        if path in pages:
            continue
        desk_page.goto(path)
        pages[path] = desk_page.content()
        for href in desk_page.eval_on_selector_all(
            "a[href^='/requests/']", "a => a.map(x => x.getAttribute('href'))"
        ):
            if href not in pages and not href.endswith("/identifiers"):
                to_visit.append(href)
    for path in (
        "/api/requests?limit=500",
        "/api/requests.csv",
        f"/api/requests/{completed_id}",
        f"/api/requests/{ambiguous_id}",
        "/api/overview",
        "/api/charts",
        f"/api/reports/{REPORT_MONTH}?format=csv",
    ):
        with desk.client("dpo") as client:
            pages[path] = client.get(path).text
    assert f"/requests/{ambiguous_id}" in pages and f"/requests/{completed_id}" in pages
    leaks = [
        (path, kind)
        for path, text in pages.items()
        for value, kind in forbidden.items()
        if value in text
    ]
    assert leaks == []

    # The one place personal data appears: the DPO's ambiguity view, and it is audited.
    desk_page.goto(f"/requests/{ambiguous_id}")
    desk_page.click("#identifiers-link")
    expect(desk_page.locator("#identifiers")).to_contain_text(household[0].email)
    shot(desk_page, artifacts, "11-ambiguity-view")
    with desk.client("auditor") as client:
        denied = client.get(f"/api/requests/{ambiguous_id}/identifiers")
        timeline = client.get(f"/api/requests/{ambiguous_id}").json()["timeline"]
    assert denied.status_code == 403
    viewed = [e for e in timeline if e["action"] == "identifiers_viewed"]
    assert viewed and viewed[-1]["actor"] == "test-dpo"
    assert household[0].email not in str(viewed)
    with httpx.Client(base_url=desk.base_url) as anonymous:
        assert anonymous.get(f"/api/requests/{ambiguous_id}/identifiers").status_code == 401
