"""No e-mail, personnummer, name or phone of a subject anywhere the desk puts text — except the
audited ambiguity view (and the audited codec decryption a DPO asks for).

The run: a plain access request that completes and a family's shared e-mail that leaves an
erasure ambiguous; the DPO walks every dashboard page reachable from the overview and the list,
opens the identifiers view, and has the codec server decrypt the completed request's history.
Then everything of that run is scanned for the subjects' identifiers (the test knows them from
the sandbox's seed): every page; every GET of the API's own OpenAPI description, with every
request id and report month filled in, in every report format; the CLI's list, show and report
outputs; and the captured logs of every process of the stack — `dsr api`, worker, intake and
`dsr codec-server`. Screenshot: 11-ambiguity-view."""

from __future__ import annotations

import asyncio
import base64
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from sandbox.people import Customer
from tests.api.desk_stack import REPORT_MONTH, DeskStack
from tests.dashboard._browser import (
    dsr,
    forbidden_values,
    household_of,
    login,
    shot,
    submit,
    wait_status,
)

pytestmark = [
    pytest.mark.integration,
    # pytest 9 + pytest-playwright 0.10 (installed, so loaded) warn about session fixtures.
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
]

# Where personal data is the point, and the view is audited: never scanned.
AUDITED_VIEWS = ("/identifiers",)
REPORT_FORMATS = ("json", "csv", "html")


def _leaks(texts: dict[str, str], forbidden: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (where, kind)
        for where, text in texts.items()
        for value, kind in forbidden.items()
        if value in text
    ]


def _walk_pages(page: Page) -> dict[str, str]:
    """Every dashboard page reachable from the overview, the list, the charts and the report
    (links to request pages followed), as rendered in the browser."""
    pages: dict[str, str] = {}
    to_visit = ["/", "/requests?limit=500", "/charts", f"/reports/{REPORT_MONTH}"]
    while to_visit:
        path = to_visit.pop()
        if path in pages:
            continue
        page.goto(path)
        pages[path] = page.content()
        for href in page.eval_on_selector_all(
            "a[href^='/requests/']", "a => a.map(x => x.getAttribute('href'))"
        ):
            if href not in pages and not href.endswith(AUDITED_VIEWS):
                to_visit.append(href)
    return pages


def _api_responses(desk: DeskStack, request_ids: list[str]) -> dict[str, str]:
    """The body of every GET the API describes in its OpenAPI document, each path parameter
    filled with every value the run has (all request ids, the report months), reports in
    every format. A GET whose parameters this does not know fails the test: a new endpoint
    joins the scan, it does not slip past it."""
    months = [REPORT_MONTH, datetime.now(UTC).strftime("%Y-%m")]
    fill: dict[str, list[str]] = {"request_id": request_ids, "month": months}
    responses: dict[str, str] = {}
    with desk.client("dpo") as client:
        spec = client.get("/api/openapi.json")
        responses["/api/openapi.json"] = spec.text
        for template, operations in spec.json()["paths"].items():
            if "get" not in operations or template.endswith(AUDITED_VIEWS):
                continue
            names = [
                p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "path"
            ]
            unknown = set(names) - set(fill)
            assert not unknown, f"no values to scan {template} with: {unknown}"
            paths = [template]
            for name in names:
                paths = [p.replace(f"{{{name}}}", v) for p in paths for v in fill[name]]
            for path in paths:
                if "{month}" in template:
                    variants = [f"{path}?format={f}" for f in REPORT_FORMATS]
                elif template in ("/api/requests", "/api/requests.csv"):
                    variants = [path, f"{path}?limit=500"]
                else:
                    variants = [path]
                for variant in variants:
                    response = client.get(variant)
                    assert response.status_code < 500, (variant, response.text)
                    responses[variant] = response.text
    assert any(p.startswith("/api/reports/") for p in responses), sorted(responses)
    return responses


def _cli_outputs(desk: DeskStack, request_ids: list[str]) -> dict[str, str]:
    outputs: dict[str, str] = {}
    commands = [("list", "--json"), ("list",)]
    commands += [("show", rid, "--json") for rid in request_ids]
    commands += [("report", "--month", REPORT_MONTH, "--format", f) for f in REPORT_FORMATS]
    for args in commands:
        result = dsr(desk, *args)
        assert result.returncode == 0, (args, result.stderr)
        outputs["dsr " + " ".join(args)] = result.stdout + result.stderr
    return outputs


def _history_payloads(desk: DeskStack, request_id: str) -> list[dict[str, Any]]:
    """The encrypted payloads of the request's workflow history, as the Web UI sends them to
    the codec server (protobuf JSON). Fetched on a thread's own event loop: Playwright's sync
    API keeps one running on this one."""
    from google.protobuf import json_format

    from orchestrator.temporal_client import connect_temporal
    from schemas.workflow import workflow_id_for

    async def fetch() -> list[dict[str, Any]]:
        client = await connect_temporal(desk.stack.settings)
        history = await client.get_workflow_handle(workflow_id_for(request_id)).fetch_history()
        payloads = []
        for event in history.events:
            for field in (
                "workflow_execution_started_event_attributes",
                "activity_task_scheduled_event_attributes",
            ):
                if event.HasField(field):
                    payloads += list(getattr(event, field).input.payloads)
        return [json_format.MessageToDict(p) for p in payloads]

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result(timeout=60)


def _decrypt_with_the_codec(desk: DeskStack, request_id: str, subject: Customer) -> None:
    """What the Temporal Web UI does for a signed-in DPO: the plaintext comes back (so the
    codec server really handled the subject's data), and the decryption is audited."""
    payloads = _history_payloads(desk, request_id)
    assert payloads
    response = httpx.post(
        f"{desk.codec_url}/decode",
        json={"payloads": payloads},
        headers={
            "Authorization": f"Bearer {desk.tokens['dpo']}",
            "X-Namespace": desk.stack.settings.temporal_namespace,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    plain = b"".join(base64.b64decode(p.get("data", "")) for p in response.json()["payloads"])
    assert subject.email.encode() in plain
    with desk.client("auditor") as client:
        timeline = client.get(f"/api/requests/{request_id}").json()["timeline"]
    decrypted = [e for e in timeline if e["action"] == "payload_decrypted"]
    assert decrypted and decrypted[-1]["actor"] == "test-dpo", [e["action"] for e in timeline]


def test_no_personal_data_anywhere_but_the_audited_views(
    desk: DeskStack, desk_page: Page, artifacts: Path
) -> None:
    plain = desk.stack.fresh_customer()
    completed_id = submit(desk, plain, "access")
    pair = desk.stack.seed.examples.shared_email_pair
    assert pair is not None
    household = household_of(desk, pair.emails[0])
    ambiguous_id = submit(desk, household[0], "erasure")
    wait_status(desk, completed_id, "completed")
    wait_status(desk, ambiguous_id, "needs_attention")
    # Every subject of this stack's browser tests: the journey's family is scanned for too.
    subjects = [plain, *household, *household_of(desk, not_email=pair.emails[0])]
    forbidden = forbidden_values(subjects)

    login(desk_page, desk.tokens["dpo"])
    texts = _walk_pages(desk_page)
    assert f"/requests/{ambiguous_id}" in texts and f"/requests/{completed_id}" in texts

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
    _decrypt_with_the_codec(desk, completed_id, plain)

    with desk.client("dpo") as client:
        listed = client.get("/api/requests", params={"limit": 500}).json()["items"]
    request_ids = [item["summary"]["request_id"] for item in listed]
    assert {completed_id, ambiguous_id} <= set(request_ids)
    texts |= _api_responses(desk, request_ids)
    texts |= _cli_outputs(desk, [completed_id, ambiguous_id])
    assert _leaks(texts, forbidden) == []

    # The logs of every process of the stack, read after everything above has run.
    logs = desk.logs
    assert {"api", "worker", "intake", "codec-server"} <= set(logs), logs
    log_texts = {name: path.read_text(errors="replace") for name, path in logs.items()}
    assert all(log_texts.values()), {n: len(t) for n, t in log_texts.items()}
    assert json.dumps(_leaks(log_texts, forbidden)) == "[]"
