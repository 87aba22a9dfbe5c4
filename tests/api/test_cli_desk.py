"""CLI parity over the same front door: `dsr list` with the desk's filters, `dsr show` /
`dsr status` (what the README promises), `dsr report` in every format; `dsr api` stops cleanly
on SIGTERM; the audit trail is verifiable over HTTP by an auditor."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from devstack.localstack import ManagedProcess, free_port, wait_until
from tests.api.desk_stack import REPORT_MONTH, DeskStack

pytestmark = pytest.mark.integration


def dsr(desk: DeskStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        env={**os.environ, **desk.stack.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_list_show_status_and_report(desk: DeskStack) -> None:
    listed = dsr(desk, "list", "--overdue", "--id", "seed-", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["request_id"] for r in rows) == ["seed-a06", "seed-a07"]
    assert all(r["overdue"] and r["days_left"] < 0 for r in rows)
    table = dsr(desk, "list", "--status", "denied", "--due-before", "2025-04-30", "--id", "seed-")
    assert "seed-a04" in table.stdout and "seed-a05" in table.stdout and "2 of 2" in table.stdout

    status = dsr(desk, "status", "seed-a07", "--json")
    document = json.loads(status.stdout)
    assert document["due_date"] == "2025-06-20" and document["due_at"].startswith("2025-06-20")
    assert document["extension"]["months"] == 2
    assert {"systems", "plan", "package", "decisions"} <= set(document)
    human = dsr(desk, "show", "seed-a02")
    assert "bookkeeping until 2032-12-31" in human.stdout and "se-registry" in human.stdout
    assert "Bokföringslagen 7 kap. 2 §" in human.stdout
    missing = dsr(desk, "show", "seed-nope")
    assert missing.returncode == 1 and "no request" in missing.stderr

    as_json = json.loads(dsr(desk, "report", "--month", REPORT_MONTH, "--format", "json").stdout)
    with desk.client("auditor") as client:
        over_http = client.get(f"/api/reports/{REPORT_MONTH}").json()
    ignore = {"generated_at"}
    assert {k: v for k, v in as_json.items() if k not in ignore} == {
        k: v for k, v in over_http.items() if k not in ignore
    }
    as_csv = dsr(desk, "report", "--month", REPORT_MONTH, "--format", "csv").stdout
    assert ["deadline", "late", "1"] in list(csv.reader(io.StringIO(as_csv)))


def test_audit_trail_verifiable_over_http(desk: DeskStack) -> None:
    with desk.client("auditor") as auditor:
        report = auditor.get("/api/audit/verify", params={"checkpoints": "false"})
        signed = auditor.get("/api/audit/verify")  # the stack signs checkpoints: checked too
    assert report.status_code == 200, report.text
    assert report.json()["ok"] is True and report.json()["first_break"] is None
    assert signed.status_code == 200, signed.text
    assert signed.json()["ok"] is True and signed.json()["checkpoints"]["checked"] is True
    with desk.client("operator") as operator:
        assert operator.get("/api/audit/verify").status_code == 403


def test_dsr_api_stops_cleanly_on_sigterm(desk: DeskStack) -> None:
    port = free_port()
    env = {**desk.stack.env, "DSR_API_BIND": f"127.0.0.1:{port}"}
    process = ManagedProcess(
        "api-sigterm",
        [sys.executable, "-m", "orchestrator.cli", "api"],
        desk.stack.root / "logs" / "api-sigterm.log",
        env=env,
    ).start()

    def up() -> bool:
        assert process.alive, process.log_path.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 60, "dsr api")
    assert process.process is not None
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(timeout=30) == 0
    log = process.log_path.read_text()
    assert "Application shutdown complete" in log


def test_extend_refuses_a_reason_with_personal_data(desk: DeskStack) -> None:
    """`dsr extend` goes through the same front door as the API: a reason that would publish
    personal data to the portal, or an overlong one, exits non-zero without echoing it."""
    customer = desk.stack.fresh_customer()
    submitted = dsr(
        desk, "submit", "--kind", "erasure", "--email", customer.email, "--verification", "none"
    )
    assert submitted.returncode == 0, submitted.stderr
    request_id = submitted.stdout.strip()

    def waiting() -> bool:
        with desk.client("auditor") as client:
            response = client.get(f"/api/requests/{request_id}")
        return response.status_code == 200 and (
            response.json()["summary"]["status"] == "awaiting_verification"
        )

    wait_until(waiting, 60, f"{request_id} awaiting verification")
    extend = ("extend", request_id, "--actor", "dpo", "--months", "1", "--reason")
    for reason, found in (
        (f"asked {customer.email} for the archive", "e-mail"),
        (f"subject rang from {customer.phone}", "phone"),
        (f"{customer.name} rang about it", "name"),
        ("y" * 501, "at most 500"),
    ):
        refused = dsr(desk, *extend, reason)
        assert refused.returncode == 2, (refused.stdout, refused.stderr)
        assert found in refused.stderr and reason not in refused.stderr + refused.stdout
    with desk.client("auditor") as client:
        assert client.get(f"/api/requests/{request_id}").json()["summary"]["extension"] is None
    accepted = dsr(desk, *extend, "the request spans archived systems")
    assert accepted.returncode == 0, accepted.stderr
    assert "extend accepted" in accepted.stdout
