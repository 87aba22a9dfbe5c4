"""Workflows stuck in the worker (their code fails on every task) are on the desk's first
screen and in the API's overview; when Temporal does not answer, the overview says that it is
not known rather than showing none (in process, fake Temporal at the transport seam; the real
marking by the Temporal server is tests/integration/test_stuck_workflows.py)."""

from __future__ import annotations

from fastapi import FastAPI

from orchestrator.dpo import StuckWorkflow
from orchestrator.store import Store
from tests.api._inproc import TOKENS, FakeTemporal, client

STUCK = StuckWorkflow(
    workflow_id="dsr-seed-a01",
    workflow_type="DsrWorkflowV2",
    request_id="seed-a01",
    problems=["WorkflowTaskFailed", "WorkflowWorkerUnhandledFailure"],
)
SYSTEM = StuckWorkflow(
    workflow_id="reconcile/dsr.requests.v1",
    workflow_type="ReconcileRequests",
    request_id=None,
    problems=["WorkflowTaskFailed"],
)


async def _overview_page(app: FastAPI) -> str:
    async with client(app, None) as browser:
        browser.cookies.set("dsr_desk", TOKENS["dpo"])
        page = await browser.get("/")
    assert page.status_code == 200, page.text
    return page.text


async def test_the_overview_lists_stuck_workflows_with_their_request(
    app: FastAPI, temporal: FakeTemporal, seeded: Store
) -> None:
    temporal.stuck_workflows = [STUCK, SYSTEM]
    html = await _overview_page(app)
    section = html[html.index('id="stuck"') : html.index("By status")]
    assert "Stuck in the worker <small>(2)</small>" in section
    assert '<a href="/requests/seed-a01">seed-a01</a>' in section
    assert "WorkflowTaskFailed, WorkflowWorkerUnhandledFailure" in section
    assert "reconcile/dsr.requests.v1" in section  # the orchestrator's own, without a link
    async with client(app, "auditor") as api:
        document = (await api.get("/api/overview")).json()
    assert [s["workflow_id"] for s in document["stuck"]] == [STUCK.workflow_id, SYSTEM.workflow_id]
    assert document["stuck"][0]["request_id"] == "seed-a01"


async def test_nothing_stuck_shows_no_section(
    app: FastAPI, temporal: FakeTemporal, seeded: Store
) -> None:
    html = await _overview_page(app)
    assert 'id="stuck"' not in html and 'id="stuck-unknown"' not in html
    async with client(app, "auditor") as api:
        assert (await api.get("/api/overview")).json()["stuck"] == []


async def test_an_unreachable_temporal_is_said_not_shown_as_nothing_stuck(
    app: FastAPI, temporal: FakeTemporal, seeded: Store
) -> None:
    temporal.connect_error = OSError("connection refused")
    html = await _overview_page(app)
    assert 'id="stuck-unknown"' in html
    async with client(app, "auditor") as api:
        assert (await api.get("/api/overview")).json()["stuck"] is None
