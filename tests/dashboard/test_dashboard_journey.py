"""A DPO runs a request from submission to completion through the dashboard alone.

The portal's signed event (`dsr submit`, what the portal publishes) is the only step outside the
browser. From there every decision is taken in Chromium: the request arrives unverified, the DPO
finds it by filter and confirms the subject's identity; the subject's e-mail turns out to be a
family's shared address, so billing holds the erasure (`needs_attention`, manual); the DPO opens
the audited identifiers view, narrows the request to the one person by personnummer, and the
request completes — all seen on the request page. The API is only read at the end, to check
that what the page said is what happened."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api.desk_stack import DeskStack
from tests.dashboard._browser import household_of, login, reload_until, shot, submit, wait_status

pytestmark = [
    pytest.mark.integration,
    # pytest 9 + pytest-playwright 0.10 (installed, so loaded) warn about session fixtures.
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
]


def _decide(page: Page, decision: str, **fields: str) -> None:
    """Fill a decision form, accept its confirmation, and wait for the flash it answers with."""
    form = page.locator(f"form[data-decision={decision}]")
    for name, value in fields.items():
        control = form.locator(f"[name={name}]")
        if control.evaluate("node => node.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    page.once("dialog", lambda dialog: dialog.accept())
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash").first).to_contain_text(f"{decision} accepted")


def _status(page: Page) -> str:
    """The request's status as the page renders it (`<span class="status s-<status>">`)."""
    classes = page.locator("h1 .status").get_attribute("class") or ""
    found = re.search(r"\bs-([a-z_]+)", classes)
    return found.group(1) if found else ""


def test_a_request_from_submission_to_completion_in_the_dashboard_alone(
    desk: DeskStack, desk_page: Page, artifacts: Path
) -> None:
    pair = desk.stack.seed.examples.shared_email_pair
    assert pair is not None
    # Another family than the privacy test's (whose request must stay ambiguous).
    family = household_of(desk, not_email=pair.emails[0])
    subject = family[1]
    assert subject.personal_identity_number and family[0].email == subject.email
    request_id = submit(desk, subject, "erasure", "--channel", "portal", "--verification", "none")

    # ── from here on, only the browser ─────────────────────────────────────────────────────
    login(desk_page, desk.tokens["dpo"])
    desk_page.click("text=Requests")
    desk_page.select_option("select[name=status]", "awaiting_verification")
    desk_page.fill("input[name=q]", request_id)
    desk_page.click("#apply-filters")
    row = desk_page.locator(f"tr[data-request-id={request_id}]")
    reload_until(desk_page, lambda: row.count() == 1, f"{request_id} in the filtered list")
    shot(desk_page, artifacts, "20-journey-found")
    row.locator(f"text={request_id}").click()
    expect(desk_page).to_have_url(re.compile(f"/requests/{request_id}$"))
    assert _status(desk_page) == "awaiting_verification"

    _decide(desk_page, "confirm_identity", method="manual_check")
    reload_until(desk_page, lambda: _status(desk_page) == "needs_attention", "the ambiguous match")
    expect(desk_page.locator("article[data-system=billing] .outcome")).to_have_text("manual")
    shot(desk_page, artifacts, "21-journey-ambiguous")

    desk_page.click("#identifiers-link")
    expect(desk_page.locator("#identifiers")).to_contain_text(subject.email)
    desk_page.click(f"h1 a[href='/requests/{request_id}']")
    expect(desk_page.locator("#timeline")).to_contain_text("identifiers viewed by test-dpo")

    # The DPO has established (with the subject) which family member asked: narrow to them.
    _decide(
        desk_page,
        "narrow_subject",
        identifier_type="personal_identity_number",
        identifier_value=subject.personal_identity_number,
    )
    reload_until(desk_page, lambda: _status(desk_page) == "completed", "completion")
    billing = desk_page.locator("article[data-system=billing] .outcome")
    expect(billing).to_have_text(re.compile("^(done|retained)$"))
    expect(desk_page.locator("#decisions")).to_have_count(0)  # nothing left to decide
    timeline = desk_page.locator("#timeline")
    expect(timeline).to_contain_text("decision by test-dpo")
    expect(timeline).to_contain_text("completed")
    shot(desk_page, artifacts, "22-journey-completed")

    # What the page showed is what happened: both decisions by the DPO's token, nothing else.
    done = wait_status(desk, request_id, "completed")
    decided = [(d["decision"], d["actor"]) for d in done["summary"]["decisions"]]
    assert decided == [("confirm_identity", "test-dpo"), ("narrow_subject", "test-dpo")]
    assert subject.personal_identity_number not in str(done)  # narrowed by it, never stored
