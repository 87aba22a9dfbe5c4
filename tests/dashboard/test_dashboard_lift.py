"""The request page lifts a closed restriction request's restriction (Art. 18) in Chromium: the
button is offered to the DPO (its form carries the session's CSRF token, like every decision),
the confirmation says the subject is told first, and once the lift has run the page shows the
restriction lifted with billing's result, and offers the button no more. Before the lift, the
page says since when the restriction is in force and how to lift it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api.desk_stack import DeskStack
from tests.dashboard._browser import login, reload_until, shot, submit, wait_status

pytestmark = [
    pytest.mark.integration,
    # pytest 9 + pytest-playwright 0.10 (installed, so loaded) warn about session fixtures.
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
]
NOTE = "accuracy verified with the customer"


def test_the_dpo_lifts_a_restriction_from_the_request_page(
    desk: DeskStack, desk_page: Page, artifacts: Path
) -> None:
    customer = desk.stack.fresh_customer()
    request_id = submit(desk, customer, "restriction", "--channel", "portal")
    wait_status(desk, request_id, "completed")

    login(desk_page, desk.tokens["dpo"])
    desk_page.goto(f"/requests/{request_id}")
    # In force, its lift held for the DPO: since when, and how to lift it.
    expect(desk_page.locator("#restricted-since")).to_contain_text("restricted since")
    expect(desk_page.locator("#restricted-since")).to_contain_text("dsr lift-restriction")
    form = desk_page.locator("form[data-decision=lift_restriction]")
    expect(form).to_have_count(1)
    assert form.locator("input[name=csrf]").get_attribute("value")
    assert "told first" in (form.get_attribute("data-confirm") or "")
    form.locator("[name=note]").fill(NOTE)
    desk_page.once("dialog", lambda dialog: dialog.accept())
    form.locator("button[type=submit]").click()
    expect(desk_page.locator(".flash").first).to_contain_text("lift_restriction accepted")

    section = desk_page.locator("#restriction-lift")
    reload_until(
        desk_page,
        lambda: section.count() == 1 and section.get_attribute("data-state") == "lifted",
        "the restriction lifted",
    )
    expect(desk_page.locator("#restriction-state")).to_contain_text("by test-dpo")
    expect(desk_page.locator("#restriction-state")).to_contain_text(NOTE)
    expect(section.locator("tr[data-system=billing]")).to_contain_text("done")
    expect(desk_page.locator("#restriction-tasks")).to_have_count(0)
    expect(desk_page.locator("form[data-decision=lift_restriction]")).to_have_count(0)
    expect(desk_page.locator("#restricted-since")).to_have_count(0)
    shot(desk_page, artifacts, "60-restriction-lifted")
