"""The `dsr` command as an operator uses it: submit a request received by letter, follow it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.integration.conftest import Stack, completed

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
    assert summary["systems"][0]["export"]["uri"].startswith("file://")

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
