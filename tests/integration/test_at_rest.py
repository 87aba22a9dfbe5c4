"""At rest, through the real stack (broker, Temporal, worker, intake, five sandbox systems):
an access request leaves no plaintext of the subject anywhere the orchestrator writes, its
package is shown and extracted through the CLI, and crypto-shredding makes its Temporal history
and its package unreadable, as `dsr shred verify` shows."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from schemas.status import RequestStatus
from tests.integration.conftest import Stack, completed, publish_signed, request_event

pytestmark = pytest.mark.integration


def dsr(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _needles(person) -> list[bytes]:  # type: ignore[no-untyped-def]
    values = [person.email, person.name, person.personal_identity_number]
    return [v.encode() for v in values if v]


def _files_holding(roots: list[Path], needles: list[bytes]) -> list[str]:
    hits = []
    for root in roots:
        candidates = [root] if root.is_file() else root.rglob("*") if root.exists() else []
        for path in candidates:
            if path.is_file() and any(n in path.read_bytes() for n in needles):
                hits.append(str(path))
    return hits


async def test_access_leaves_no_plaintext_and_the_package_is_handed_over_by_the_cli(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    person = stack.fresh_customer(everywhere=True)
    request_id = await publish_signed(
        producer,
        stack,
        request_event("access", {"email": person.email, "name": person.name}, locale="en"),
    )
    record = await completed(temporal, request_id)
    assert record.status is RequestStatus.COMPLETED
    assert record.package is not None and record.package.files > 2
    for system in record.systems:
        assert system.export is not None and system.export.uri.startswith("dsr-parts:")

    # Nothing the orchestrator keeps holds the subject in clear: package dir,
    # the store, the intake's state, Temporal's database, the orchestrator's own logs.
    root = stack.root
    scanned = [
        root / "packages",
        root / "intake-data",
        root / "logs" / "worker.log",
        root / "logs" / "intake.log",
        *root.glob("dsr.db*"),
        *stack.infra.root.glob("temporal.db*"),
    ]
    assert _files_holding(scanned, _needles(person)) == []

    shown = dsr(stack, "package", "show", request_id, "--json")
    assert shown.returncode == 0, shown.stderr
    manifest = json.loads(shown.stdout)
    paths = {f["path"] for f in manifest["files"]}
    assert {"billing/contact.json", "billing/contact.csv", "information_en.md"} <= paths
    expires_at = datetime.fromisoformat(manifest["package"]["expires_at"])
    assert expires_at == record.package.expires_at == datetime.fromisoformat(manifest["expires_at"])

    handover = tmp_path / "handover"
    extracted = dsr(stack, "package", "extract", request_id, str(handover))
    assert extracted.returncode == 0, extracted.stderr
    for file in manifest["files"]:
        content = (handover / file["path"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == file["sha256"]
    contacts = json.loads((handover / "billing" / "contact.json").read_text())
    assert any(c.get("email") == person.email for c in contacts)
    assert "Integritetsskyddsmyndigheten" not in (handover / "information_en.md").read_text()
    assert "(IMY)" in (handover / "information_en.md").read_text()

    # Crypto-shredding: the DPO shreds the closed request; nothing of it can be read again.
    before = dsr(stack, "shred", "verify", request_id, "--json")
    assert before.returncode == 1 and json.loads(before.stdout)["shredded"] is False
    shred = dsr(stack, "shred", "now", request_id, "--actor", "dpo@example.se")
    assert shred.returncode == 0, shred.stderr
    verified = dsr(stack, "shred", "verify", request_id, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    verdict = json.loads(verified.stdout)
    assert verdict["key"]["destroyed"] is True
    assert verdict["history"]["request_payloads"] > 10
    assert verdict["history"]["undecryptable"] == verdict["history"]["request_payloads"]
    assert verdict["history"]["decryptable"] == 0
    assert verdict["history"]["unencrypted_payloads"] == 0  # headers hold trace context only
    assert verdict["package"]["decryptable"] is False
    unreadable = dsr(stack, "package", "show", request_id)
    assert unreadable.returncode == 1 and "destroyed" in unreadable.stderr
