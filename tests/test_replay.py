"""Replay over committed histories: a change to DsrWorkflow that would break workflows already
running in production (non-determinism) fails here, in CI, before it ships.

Histories are recorded by the integration tests with DSR_RECORD_HISTORIES=1 (`make histories`,
see tests/integration/test_decisions.py: DsrWorkflowV2 ones are `v2_*.json`, and `v2b_*.json`
since its bookkeeping became local activities) and encrypted with the fixed test-only payload
key. The first-generation ones replay against the frozen
workflows/dsr_v1.py; every one must replay against [DsrWorkflowV1, DsrWorkflow].
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from orchestrator.codec import encrypted_data_converter
from orchestrator.settings import Settings
from tests.conftest import REPLAY_PAYLOAD_KEYS
from workflows.dsr import DsrWorkflow
from workflows.dsr_v1 import DsrWorkflowV1

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_committed() -> None:
    """Five-system histories, and the billing-only ones recorded before the other four
    connectors existed: workflows of both generations must keep replaying."""
    names = {p.stem for p in HISTORIES}
    flows = {
        "access",
        "erasure",
        "access_confirmed_identity",
        "erasure_denied",
        "erasure_ambiguous_closed",
    }
    assert flows <= names
    assert {f"billing_only_{flow}" for flow in flows} <= names
    # recorded with the hold-all-systems-on-ambiguity rule (workflow.patched)
    assert "erasure_ambiguous_held" in names
    # DsrWorkflowV2 (Updates, gates, deadline clock): re-recorded by `make histories`
    assert {
        "v2_access",
        "v2_erasure",
        "v2_access_confirmed_identity",
        "v2_erasure_denied",
        "v2_erasure_ambiguous_skipped",
    } <= names
    # ... and with the bookkeeping as local activities (workflow.patched('local-bookkeeping-v1'))
    assert {
        "v2b_access",
        "v2b_erasure",
        "v2b_access_confirmed_identity",
        "v2b_erasure_denied",
        "v2b_erasure_ambiguous_skipped",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    keys = Settings(payload_keys=REPLAY_PAYLOAD_KEYS).payload_key_ring()
    replayer = Replayer(
        workflows=[DsrWorkflowV1, DsrWorkflow], data_converter=encrypted_data_converter(keys)
    )
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    await replayer.replay_workflow(history)
