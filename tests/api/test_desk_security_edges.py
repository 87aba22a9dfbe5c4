"""The desk's session edges, in process (tests/api/_inproc.py): the JSON API's changes take a
bearer token and a JSON body, never the dashboard's cookie (CSRF); the session cookie is Secure
unless served to a loopback host; a non-ASCII CSRF value is a 403, not a 500; and a flash
message is shown only when this app set it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.api._inproc import (
    TOKENS,
    FakeTemporal,
    client,
)

API_DIR = Path(__file__).resolve().parents[2] / "orchestrator" / "api"


def _session(app: FastAPI) -> str:
    csrf: str = app.state.csrf.token_for(TOKENS["dpo"])
    return csrf


# ── 1. no change through /api on the strength of the cookie ───────────────────────────────────
@pytest.mark.parametrize("decision", ["approve", "confirm_identity", "deny"])
async def test_the_cookie_alone_changes_nothing_through_the_api(
    app: FastAPI, temporal: FakeTemporal, decision: str
) -> None:
    """What a page of another origin can make the DPO's browser send: the cookie, and an empty
    text/plain form (no preflight)."""
    async with client(app, None) as browser:
        browser.cookies.set("dsr_desk", TOKENS["dpo"])
        forged = await browser.post(
            f"/api/requests/seed-a07/{decision}",
            content=b"",
            headers={"content-type": "text/plain", "origin": "https://evil.example"},
        )
        as_json = await browser.post(f"/api/requests/seed-a07/{decision}", json={})
        bulk = await browser.post("/api/requests/bulk/approve", json={"ids": ["seed-a07"]})
        # reads still take the cookie (the dashboard links to the CSV and the report)
        assert (await browser.get("/api/requests/seed-a07")).status_code == 200
    assert forged.status_code == 401, forged.text
    assert as_json.status_code == 401 and "bearer" in as_json.json()["detail"]
    assert bulk.status_code == 401
    assert temporal.updates == []


async def test_an_api_decision_takes_a_json_body(app: FastAPI, temporal: FakeTemporal) -> None:
    async with client(app) as api:
        plain = await api.post(
            "/api/requests/seed-a07/approve",
            content=b'{"note": ""}',
            headers={"content-type": "text/plain"},
        )
        form = await api.post("/api/requests/bulk/approve", data={"ids": "seed-a07"})
        assert plain.status_code == 415 and form.status_code == 415
        assert temporal.updates == []
        assert (await api.post("/api/requests/seed-a07/approve", json={})).status_code == 200
        assert (await api.post("/api/requests/seed-a07/approve")).status_code == 200  # no body
        typed = await api.post(
            "/api/requests/seed-a07/approve",
            content=b"{}",
            headers={"content-type": "application/json; charset=utf-8"},
        )
        assert typed.status_code == 200
    assert [u.name for u in temporal.updates] == ["approve"] * 3


def test_the_dashboard_posts_only_to_its_own_csrf_checked_forms() -> None:
    """The dashboard never relies on a cookie-authenticated POST under /api: no form posts
    there and no script makes a request of its own."""
    for template in (API_DIR / "templates").glob("*.html"):
        for form in re.findall(r"<form[^>]*>", template.read_text()):
            action = re.search(r'action="([^"]*)"', form)
            assert not (action and action.group(1).startswith("/api")), (template.name, form)
    for script in (API_DIR / "static").glob("*.js"):
        text = script.read_text()
        assert not re.search(r"\bfetch\(|XMLHttpRequest|sendBeacon", text), script.name


# ── 2. the session cookie is Secure unless on loopback ──────────────────────────────────────
def _cookies(response: object) -> dict[str, str]:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return {h.split("=", 1)[0]: h for h in headers}


async def _log_in(app: FastAPI, base_url: str, **headers: str) -> dict[str, str]:
    async with client(app, None, base_url=base_url) as browser:
        page = await browser.get("/login", headers=headers)
        login_csrf = _cookies(page)["dsr_login_csrf"].split(";")[0].split("=", 1)[1]
        done = await browser.post(
            "/login",
            data={"token": TOKENS["dpo"], "csrf": login_csrf},
            headers={"cookie": f"dsr_login_csrf={login_csrf}", **headers},
        )
    assert done.status_code == 303, done.text
    return {**{f"login:{k}": v for k, v in _cookies(page).items()}, **_cookies(done)}


@pytest.mark.parametrize(
    ("base_url", "headers"),
    [
        ("http://dpo.hosting-company.se", {"x-forwarded-proto": "https"}),  # behind TLS proxy
        ("http://dpo.hosting-company.se", {}),
        ("http://10.0.4.7:8400", {}),
        ("https://127.0.0.1:8400", {}),
        ("http://127.0.0.1:8400", {"x-forwarded-proto": "https"}),  # a proxy keeping its Host
    ],
)
async def test_the_session_cookie_is_secure_off_loopback(
    app: FastAPI, base_url: str, headers: dict[str, str]
) -> None:
    cookies = await _log_in(app, base_url, **headers)
    assert "; secure" in cookies["dsr_desk"].lower(), cookies
    assert "; secure" in cookies["login:dsr_login_csrf"].lower(), cookies


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8400", "http://localhost:8400", "http://[::1]:8400"]
)
async def test_on_loopback_over_http_the_cookie_is_not_secure(app: FastAPI, base_url: str) -> None:
    cookies = await _log_in(app, base_url)
    assert "secure" not in cookies["dsr_desk"].lower(), cookies
    assert (
        "httponly" in cookies["dsr_desk"].lower()
        and "samesite=strict" in cookies["dsr_desk"].lower()
    )


# ── 4. non-ASCII CSRF values ────────────────────────────────────────────────────────────────
async def test_a_non_ascii_csrf_value_is_refused_not_a_crash(
    app: FastAPI, temporal: FakeTemporal
) -> None:
    async with client(app, None) as browser:
        await browser.get("/login")
        login = await browser.post("/login", data={"token": TOKENS["dpo"], "csrf": "å"})
        odd_cookie = await browser.post(
            "/login",
            data={"token": TOKENS["dpo"], "csrf": "abc"},
            headers={b"cookie": "dsr_login_csrf=\xe5\xe5".encode("latin-1")},
        )
    assert login.status_code == 403 and odd_cookie.status_code == 403
    async with client(app, None) as browser:
        browser.cookies.set("dsr_desk", TOKENS["dpo"])
        for path, form in [
            ("/logout", {"csrf": "å"}),
            ("/requests/seed-a07/decide", {"csrf": "å", "decision": "approve"}),
            ("/requests/bulk", {"csrf": "é", "ids": "seed-a07", "decision": "approve"}),
        ]:
            refused = await browser.post(path, data=form)
            assert refused.status_code == 403, (path, refused.text)
    assert temporal.updates == []


# ── 10. only the app's own flash messages ───────────────────────────────────────────────────
async def test_a_flash_message_is_shown_only_when_the_app_set_it(app: FastAPI) -> None:
    lure = "Your session expired: paste your token at https://evil.example"
    async with client(app, None) as browser:
        on_login = await browser.get("/login", params={"msg": lure, "kind": "error"})
        browser.cookies.set("dsr_desk", TOKENS["dpo"])
        on_a_page = await browser.get("/requests", params={"msg": lure, "msg_kind": "error"})
        for forged in (on_login, on_a_page):
            assert forged.status_code == 200 and lure not in forged.text
            assert 'class="flash' not in forged.text
        browser.cookies.clear()
        # a real message, with its signature altered or its text swapped, is not shown either
        failed = await browser.post(
            "/login",
            data={"token": "not-a-token", "csrf": "x"},
            headers={"cookie": "dsr_login_csrf=x"},
        )
        target = failed.headers["location"]
        shown = await browser.get(target)
        assert "That token is not valid." in shown.text and 'class="flash error"' in shown.text
        swapped = target.replace("That+token+is+not+valid.", "Paste+your+token+elsewhere.")
        assert "Paste your token" not in (await browser.get(swapped)).text
        resigned = re.sub(r"msg_sig=[0-9a-f]+", "msg_sig=" + "0" * 64, target)
        assert "not valid" not in (await browser.get(resigned)).text


async def test_a_flash_message_goes_stale(app: FastAPI) -> None:
    from orchestrator.api._flash import FLASH_SECONDS

    signer = app.state.flash
    params = signer.params("approve accepted: the request is in_progress", now=1_000_000)
    assert signer.verified(
        params["msg"], params["msg_kind"], params["msg_at"], params["msg_sig"], now=1_000_060
    )
    late = 1_000_000 + FLASH_SECONDS + 1
    assert (
        signer.verified(
            params["msg"], params["msg_kind"], params["msg_at"], params["msg_sig"], now=late
        )
        is None
    )
    assert signer.verified(params["msg"], "error", params["msg_at"], params["msg_sig"]) is None
