"""A deferred erasure that failed is shown to the DPO wherever one request is: the dashboard's
request page, the API's request document and `dsr status` (in process, over the seeded store of
tests/api/conftest.py). Each date shows its outcome, attempt, counts and note; a failed one says
whether it is being retried (its records are still there) or was given up by a chain from before
retries (a person must see to it)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from orchestrator.cli import app as cli
from orchestrator.settings import get_settings
from orchestrator.store import Store
from schemas.events import VerificationMethod
from schemas.records import CompletionRecord, FollowUpEntry
from tests.api._inproc import TOKENS, client

REQUEST = "seed-a02"  # a completed erasure whose billing invoices are retained (bookkeeping)
RAN_AT = datetime(2033, 1, 1, 0, 0, 5, tzinfo=UTC)
RETRYING = FollowUpEntry(
    due_on=date(2033, 1, 1),
    ran_at=RAN_AT + timedelta(hours=1),
    erased={"newsletter": {"subscriber": 1}},
    outcome="failed",
    note="billing: AuthenticationError",
    attempt=2,
    retry_at=RAN_AT + timedelta(hours=3),
)
GIVEN_UP = FollowUpEntry(  # recorded by a chain from before follow-up-retry-v1
    due_on=date(2025, 7, 1),
    ran_at=datetime(2025, 6, 30, 22, 0, 1, tzinfo=UTC),
    outcome="failed",
    note="hosting: no such connector any more",
)
DONE = FollowUpEntry(
    due_on=date(2026, 1, 1),
    ran_at=datetime(2025, 12, 31, 23, 0, 1, tzinfo=UTC),
    erased={"billing": {"invoices": 2}},
    note="retention ended 2025-12-31: retained items erased",
)


@pytest.fixture
async def with_follow_ups(seeded: Store) -> Store:
    summary = await seeded.get_request(REQUEST)
    assert summary is not None and summary.completed_at is not None
    await seeded.save_completion_record(
        CompletionRecord(
            request_id=REQUEST,
            kind=summary.kind,
            channel=summary.channel,
            status=summary.status,
            event_id=f"ev-{REQUEST}",
            verification_method=VerificationMethod.BANKID,
            received_at=summary.received_at,
            due_at=summary.due_at,
            completed_at=summary.completed_at,
            workflow_id=f"dsr-{REQUEST}",
            workflow_run_id="run-1",
            systems=summary.systems,
        )
    )
    for entry in (RETRYING, GIVEN_UP, DONE):
        await seeded.append_follow_up(REQUEST, entry)
    return seeded


async def test_the_request_page_marks_a_failed_follow_up_as_retrying(
    app: FastAPI, with_follow_ups: Store
) -> None:
    async with client(app, None) as browser:
        browser.cookies.set("dsr_desk", TOKENS["dpo"])
        page = await browser.get(f"/requests/{REQUEST}")
    assert page.status_code == 200, page.text
    html = page.text
    section = html[html.index('id="follow-ups"') : html.index('id="timeline"')]
    assert "1 date(s) failed and are being retried" in section
    rows = section.split('<tr class="f-')[1:]
    assert [row.split('"')[0] for row in rows] == ["failed", "done", "retrying"], "by date"
    given_up, done, retrying = rows
    assert "failed · retrying" in retrying
    assert "billing: AuthenticationError" in retrying
    assert "newsletter: subscriber 1" in retrying
    assert "2033-01-01 04:00" in retrying, "the next try, in Stockholm time"
    assert "failed · not retried" in given_up and "by hand" in given_up
    assert "hosting: no such connector any more" in given_up
    assert "o-done" in done and "billing: invoices 2" in done


async def test_the_api_request_document_has_the_follow_ups_with_their_state(
    app: FastAPI, with_follow_ups: Store
) -> None:
    async with client(app, "auditor") as api:
        response = await api.get(f"/api/requests/{REQUEST}")
    assert response.status_code == 200, response.text
    shown = {f["due_on"]: f for f in response.json()["follow_ups"]}
    assert [(day, f["state"]) for day, f in shown.items()] == [
        ("2025-07-01", "failed"),
        ("2026-01-01", "done"),
        ("2033-01-01", "retrying"),
    ]
    retrying = shown["2033-01-01"]
    assert retrying["attempt"] == 2
    assert retrying["note"] == "billing: AuthenticationError"
    assert retrying["erased"] == {"newsletter": {"subscriber": 1}}
    assert retrying["retry_at"].startswith("2033-01-01T03:00:05")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's settings pointing at the seeded store's file (conftest: tmp_path/dsr.db)."""
    monkeypatch.setenv("DSR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}")
    monkeypatch.setenv("DSR_PAYLOAD_KEYS", "k1:" + base64.b64encode(b"\x01" * 32).decode())
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_dsr_status_shows_the_failed_follow_up_as_retrying(
    with_follow_ups: Store, cli_env: None
) -> None:
    shown = CliRunner().invoke(cli, ["status", REQUEST])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert any(
        "deferred erasure due 2033-01-01 failed (billing: AuthenticationError): retrying" in line
        and "next try 2033-01-01 04:00" in line
        for line in lines
    ), shown.output
    assert any(
        "deferred erasure due 2025-07-01 failed" in line and "not retried" in line for line in lines
    ), shown.output
    assert "failed · retrying" in shown.output
    assert "newsletter: subscriber 1" in shown.output
    as_json = CliRunner().invoke(cli, ["status", REQUEST, "--json"])
    assert as_json.exit_code == 0, as_json.output
    states = {f["due_on"]: f["state"] for f in json.loads(as_json.output)["follow_ups"]}
    assert states == {"2025-07-01": "failed", "2026-01-01": "done", "2033-01-01": "retrying"}
