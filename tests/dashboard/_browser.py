"""What the browser tests share: logging in, screenshots, publishing a request as the portal does
(`dsr submit`, the one step outside the browser), waiting on the API or on a reloaded page (a
deadline, never a fixed sleep), and the identifiers of a subject that must never leak."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from sandbox.people import Customer
from tests.api.desk_stack import CUSTOMERS, DeskStack, wait_for


def shot(page: Page, artifacts: Path, name: str, **options: Any) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True, **options)


def login(page: Page, token: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")


def dsr(desk: DeskStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        env={**os.environ, **desk.stack.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def submit(desk: DeskStack, customer: Customer, kind: str, *extra: str) -> str:
    """Publish a signed request event for the customer's e-mail, as the portal would."""
    result = dsr(desk, "submit", "--kind", kind, "--email", customer.email, *extra)
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


def reload_until(
    page: Page, done: Callable[[], bool], what: str, timeout: float = 60, every: float = 0.5
) -> None:
    """Reload the page until `done()` holds: a server-rendered page changes only when fetched
    again. Each round waits on the page's own load, so `every` only paces the reloads."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        page.wait_for_timeout(every * 1000)
        page.reload()


def household_of(
    desk: DeskStack, email: str | None = None, *, not_email: str = ""
) -> list[Customer]:
    """The seeded customers sharing one e-mail address (a family's): `email`'s, or the first
    shared address other than `not_email`."""
    from sandbox.billing.seed import seeded_customer

    customers = [seeded_customer(i, desk.stack.seed.seed).customer for i in range(CUSTOMERS)]
    by_email: dict[str, list[Customer]] = {}
    for customer in customers:
        by_email.setdefault(customer.email, []).append(customer)
    if email is not None:
        return by_email[email]
    return next(v for k, v in by_email.items() if len(v) > 1 and k != not_email)


def forbidden_values(customers: list[Customer]) -> dict[str, str]:
    """Each subject's identifiers as they could appear in text, and what each one is."""
    values: dict[str, str] = {}
    for c in customers:
        values[c.email] = "e-mail"
        values[c.name] = "name"
        values[c.phone] = "phone"
        values[c.phone.removeprefix("+46")] = "phone"
        values["0" + c.phone.removeprefix("+46")] = "phone"
        if c.personal_identity_number:
            values[c.personal_identity_number] = "personnummer"
            values[c.personal_identity_number[2:8] + "-" + c.personal_identity_number[8:]] = (
                "personnummer"
            )
    return values
