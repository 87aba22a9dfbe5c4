"""Browser tests: Playwright driving Debian's Chromium (never `playwright install`) against the
shared running desk (tests/api/desk_stack.py). Screenshots go to .state/test-artifacts/dashboard/
(git-ignored), kept after the run as the tests' artefacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.api.desk_stack import DeskStack, desk  # noqa: F401 - the fixture registers by import

ARTIFACTS = Path(__file__).resolve().parents[2] / ".state" / "test-artifacts" / "dashboard"
# Debian's Chromium (LOCAL-INFRA.md): the real binary, not the wrapper script.
CHROMIUM = next(
    (p for p in (Path("/usr/lib/chromium/chromium"), Path("/usr/bin/chromium")) if p.exists()),
    None,
)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture
def desk_context(chromium: Browser, desk: DeskStack) -> Iterator[BrowserContext]:  # noqa: F811
    context = chromium.new_context(base_url=desk.base_url, viewport={"width": 1400, "height": 1000})
    yield context
    context.close()


@pytest.fixture
def desk_page(desk_context: BrowserContext) -> Page:
    page = desk_context.new_page()
    page.set_default_timeout(20_000)
    return page


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
