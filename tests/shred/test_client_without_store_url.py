"""End to end on the Temporal dev server: a client started without DSR_DATABASE_URL (a DPO's
shell, `dsr narrow …`) seals what it sends a request's workflow with the request's data key
from the default store, so `dsr shred now` makes it unreadable and `dsr shred verify`'s
history part says so. It used to seal with the master key: readable for ever, and counted as
"no personal data"."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from orchestrator.datakeys import DataKeyRing
from orchestrator.settings import Settings
from orchestrator.shred_history import history_verdict
from orchestrator.temporal_client import connect_temporal
from tests.conftest import Infra


async def test_what_a_client_without_a_store_url_sends_a_request_is_shredded_with_it(
    infra: Infra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default store, sqlite+aiosqlite:///dsr.db, lands here
    monkeypatch.delenv("DSR_DATABASE_URL", raising=False)
    settings = Settings(
        temporal_address=infra.temporal_address,
        payload_keys=infra.payload_keys,
        signing_keys=infra.signing_keys,
    )
    assert "database_url" not in settings.model_fields_set
    request_id = f"req-{secrets.token_hex(6)}"
    client = await connect_temporal(settings, creates_keys=True)  # as the intake, which starts it
    handle = await client.start_workflow(
        "DsrWorkflowV2",
        {"request_id": request_id, "subject": {"email": "anna.lindqvist@exempel.se"}},
        id=f"dsr-{request_id}",
        task_queue=f"no-worker-{secrets.token_hex(4)}",  # nothing runs it: history only
    )
    try:
        # What `dsr narrow --type personnummer --value …` puts into the history.
        await handle.signal(
            "narrow_subject", {"identifier": {"type": "personnummer", "value": "198112189876"}}
        )
        store = f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}"
        ring = DataKeyRing(settings.payload_key_ring(), store)
        try:
            assert await ring.destroy(request_id)  # dsr shred now
        finally:
            await ring.aclose()

        verifier = settings.model_copy(update={"database_url": store})
        verdict = await history_verdict(verifier, request_id)
        assert verdict.master_key == 0
        assert verdict.request_payloads >= 2 and verdict.shredded == verdict.request_payloads
        assert verdict.readable == 0 and verdict.clear == 0
    finally:
        await handle.terminate()
