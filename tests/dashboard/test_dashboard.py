"""The dashboard in a real browser (Debian's Chromium via Playwright) against the running desk:
log in, find overdue requests by filter and see why they cannot be extended (Art. 12(3): only
before the deadline), extend a request that is not yet due with a reason and see the new date,
approve a repeated access request, read the charts and the report. A whole request decided in
the browser alone: test_dashboard_journey.py; the page, response and log scan for personal
data: test_dashboard_privacy.py. Screenshots: .state/test-artifacts/dashboard/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.api.desk_stack import REPORT_MONTH, DeskStack
from tests.dashboard._browser import login, shot, submit, wait_status

pytestmark = [
    pytest.mark.integration,
    # pytest 9 + pytest-playwright 0.10 (installed, so loaded) warn about session fixtures.
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
]


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
        "/requests/seed-a07/decide", form={"decision": "cancel", "reason": "x", "csrf": "forged"}
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
    for request_id in ("seed-a06", "seed-a07"):
        row = desk_page.locator(f"tr[data-request-id={request_id}]")
        expect(row).to_have_class(re.compile("overdue"))
        expect(row.locator(".badge.overdue")).to_contain_text("overdue")
    shot(desk_page, artifacts, "03-overdue-filter")

    # Overdue, never extended: the law, not the dashboard, says no (Art. 12(3) lets the
    # controller extend only within the original month), and the page says so.
    desk_page.click("text=seed-a06")
    expect(desk_page.locator("h1")).to_contain_text("seed-a06")
    expect(desk_page.locator("form[data-decision=extend]")).to_have_count(0)
    expect(desk_page.locator("#extend-unavailable")).to_contain_text(
        "has passed: Art. 12(3) allows an extension only before it"
    )
    shot(desk_page, artifacts, "04a-overdue-not-extendable")
    desk_page.go_back()

    desk_page.click("text=seed-a07")
    expect(desk_page.locator("#due-date")).to_have_text("2025-06-20")
    expect(desk_page.locator("#extension")).to_contain_text("complex request across systems")
    # Past its deadline and extended once already: no extension is offered, and why.
    expect(desk_page.locator("form[data-decision=extend]")).to_have_count(0)
    expect(desk_page.locator("#extend-unavailable")).to_contain_text("2025-06-20) has passed")
    expect(desk_page.locator("#extend-unavailable")).to_contain_text("already extended once")
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
    expect(desk_page.locator("#extend-unavailable")).to_have_count(0)  # not yet due: offered
    form = desk_page.locator("form[data-decision=extend]")
    # The reason is told to the subject verbatim: one naming them is refused, and not echoed.
    form.locator("select[name=months]").select_option("2")
    form.locator("input[name=reason]").fill(f"waiting for {customer.email} to answer")
    desk_page.once("dialog", lambda dialog: dialog.accept())
    form.locator("button[type=submit]").click()
    expect(desk_page.locator(".flash.error")).to_contain_text("must not contain personal data")
    assert customer.email not in desk_page.content()
    expect(desk_page.locator("#due-date")).to_have_text(original)
    form.locator("select[name=months]").select_option("2")
    form.locator("input[name=reason]").fill("the subject's data spans archived systems")
    desk_page.once("dialog", lambda dialog: dialog.accept())
    form.locator("button[type=submit]").click()

    expected, _ = deadline(received, 3)
    expect(desk_page.locator("#due-date")).to_have_text(expected.isoformat())
    expect(desk_page.locator("#extension")).to_contain_text("the subject's data spans archived")
    expect(desk_page.locator("form[data-decision=extend]")).to_have_count(0)  # once only
    expect(desk_page.locator("#extend-unavailable")).to_contain_text("already extended once")
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
    # Wait for the charts page itself: on the page being left there are no canvases, and
    # `every` over none is true, so without this the check could pass before navigation.
    desk_page.wait_for_url("**/charts")
    desk_page.wait_for_function(
        "() => { const c = [...document.querySelectorAll('canvas[data-chart]')];"
        " return c.length > 0 && c.every(x => x.chart); }"
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
