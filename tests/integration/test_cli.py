"""The `dsr` command as an operator uses it: submit a request received by letter, follow it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from temporalio.client import Client

from policy.deadlines import deadline
from schemas.status import RequestStatus
from tests.integration.conftest import Stack, completed, status_becomes, wait_for_workflow

pytestmark = pytest.mark.integration


def dsr(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_submit_status_and_list_as_an_operator(stack: Stack, temporal: Client) -> None:
    person = stack.fresh_customer()
    submitted = dsr(
        stack, "submit", "--kind", "access", "--email", person.email, "--channel", "letter"
    )
    assert submitted.returncode == 0, submitted.stderr
    request_id = submitted.stdout.strip()
    assert request_id.startswith("req-")

    await completed(temporal, request_id)
    status = dsr(stack, "status", request_id, "--json")
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    assert summary["status"] == "completed" and summary["channel"] == "letter"
    assert summary["systems"][0]["export"]["sha256"]  # a reference to the export, not data
    due_day, due_at = deadline(datetime.fromisoformat(summary["received_at"]))
    assert summary["due_date"] == due_day.isoformat()
    # the last moment of the deadline day, shown in Stockholm time with its offset, also once
    # the request has left Temporal and is read from the store (which keeps UTC)
    assert summary["due_at"] == due_at.isoformat()
    assert summary["due_at"].endswith(("T23:59:59.999999+01:00", "T23:59:59.999999+02:00"))

    human = dsr(stack, "status", request_id)
    assert "completed" in human.stdout and "billing" in human.stdout

    listed = dsr(stack, "list", "--status", "completed", "--json")
    assert request_id in {row["request_id"] for row in json.loads(listed.stdout)}
    for output in (submitted, status, human, listed):
        assert person.email not in output.stderr


def test_bad_input_is_a_clear_error_and_publishes_nothing(stack: Stack) -> None:
    result = dsr(stack, "submit", "--kind", "erasure", "--pnr", "198112189877")
    assert result.returncode == 2
    assert "personal_identity_number" in result.stderr
    assert "198112189877" not in result.stderr

    unknown = dsr(stack, "status", "req-does-not-exist")
    assert unknown.returncode == 1 and "no request" in unknown.stderr


def test_schema_export_writes_the_committed_contract(stack: Stack, tmp_path: Path) -> None:
    result = dsr(stack, "schema", "export", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("dsr.requested.v1.schema.json", "dsr.status_changed.v1.schema.json"):
        assert (tmp_path / name).read_text() == (Path("schemas/json") / name).read_text()


async def test_decisions_through_the_cli_accept_or_reject_with_the_reason(
    stack: Stack, temporal: Client
) -> None:
    person = stack.fresh_customer()
    submitted = dsr(
        stack, "submit", "--kind", "access", "--email", person.email, "--verification", "none"
    )
    assert submitted.returncode == 0, submitted.stderr
    request_id = submitted.stdout.strip()
    handle = await wait_for_workflow(temporal, request_id)
    await status_becomes(handle, RequestStatus.AWAITING_VERIFICATION)

    no_code = dsr(stack, "deny", request_id, "--actor", "dpo@company.se")
    assert no_code.returncode == 1 and "needs a reason code" in no_code.stderr
    too_long = dsr(
        stack, "extend", request_id, "--actor", "dpo", "--months", "3", "--reason", "complex"
    )
    assert too_long.returncode == 1 and "1 or 2 months" in too_long.stderr
    extended = dsr(
        stack, "extend", request_id, "--actor", "dpo", "--months", "2", "--reason", "complex"
    )
    assert extended.returncode == 0, extended.stderr
    twice = dsr(stack, "extend", request_id, "--actor", "dpo", "--months", "1", "--reason", "x")
    assert twice.returncode == 1 and "already extended" in twice.stderr

    confirmed = dsr(stack, "confirm-identity", request_id, "--actor", "dpo", "--method", "bankid")
    assert confirmed.returncode == 0, confirmed.stderr
    await completed(temporal, request_id)
    status = json.loads(dsr(stack, "status", request_id, "--json").stdout)
    assert status["extension"]["months"] == 2 and status["extension"]["reason"] == "complex"
    assert status["due_date"] == status["extension"]["due_date"]
    extended_to = deadline(datetime.fromisoformat(status["received_at"]), 3)
    assert status["due_date"] == extended_to[0].isoformat()
    finished = dsr(stack, "cancel", request_id, "--actor", "dpo", "--reason", "late")
    assert finished.returncode == 1 and "not running" in finished.stderr
