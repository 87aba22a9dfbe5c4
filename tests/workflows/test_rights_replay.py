"""Replay over committed objection / consent-withdrawal histories, and those kinds on the
time-skipping server.

`rights-separated-v1` changed how the planner treats these two kinds (policy.planner's
RIGHTS_SEPARATED): an objection now puts legitimate-interest processing before the DPO, a
withdrawal also stops a consent-based use of contract data. A workflow that planned under the
old rules must replay under the new code with the old plan, or it fails with non-determinism:
- `rights_v0_*`: recorded at commit ae618f3, before the patch: both kinds stopped only the
  newsletter and called every other system "not concerned";
- `rights_v1_*`: with the patch.

Recorded by `test_record_histories` below, which runs only with DSR_RECORD_HISTORIES=1 and writes
`rights_<DSR_RIGHTS_GENERATION>_<kind>.json` (payloads are plain JSON of a made-up subject).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from policy.model import LegalBasis, Policy
from schemas.connectors import ConnectorInfo, Operation
from schemas.identifiers import IdentifierType
from schemas.records import CompletionRecord
from schemas.results import UnsubscribeResult
from schemas.status import RequestStatus, SystemOutcome
from schemas.workflow import ConnectorCall
from tests.workflows.conftest import (
    TUNING,
    FakeSystem,
    Harness,
    replay,
    request_input,
    running_harness,
)
from workflows.dsr import DsrWorkflow

HISTORIES_DIR = Path(__file__).parent / "histories"
HISTORIES = sorted(HISTORIES_DIR.glob("rights_*.json"))
KINDS = ("objection", "consent_withdrawal")


@dataclass
class _Unsubscribing(FakeSystem):
    """A mocked connector that can also stop processing (objection / withdrawal)."""

    def info(self, queue: str) -> ConnectorInfo:
        info = super().info(queue)
        return info.model_copy(update={"operations": [*info.operations, Operation.UNSUBSCRIBE]})

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="connector.unsubscribe")
        async def unsubscribe(call: ConnectorCall) -> UnsubscribeResult:
            self.calls.append(
                ("unsubscribe", sorted(i.type.value for i in call.subject.identifiers))
            )
            return UnsubscribeResult(system=self.name, unsubscribed={"subscriptions": 1})

        return [*super().activities(), unsubscribe]


def _with_consent_based_ratings(policy: Policy) -> Policy:
    support = policy.systems["support"]
    ratings = support.categories["satisfaction_ratings"].model_copy(
        update={"legal_basis": LegalBasis.CONSENT}
    )
    categories = {**support.categories, "satisfaction_ratings": ratings}
    systems = {**policy.systems, "support": support.model_copy(update={"categories": categories})}
    return policy.model_copy(update={"systems": systems})


def _systems() -> list[FakeSystem]:
    return [
        _Unsubscribing("newsletter", counts={"subscriber": 1, "subscriptions": 2}),
        _Unsubscribing(
            "support", counts={"user": 1, "call_recordings": 3, "satisfaction_ratings": 2}
        ),
        _Unsubscribing("registrar", counts={"contacts": 1}),
    ]


@pytest.fixture
async def rights(ts_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    async with running_harness(ts_env, _systems(), "dsr-rights") as harness:
        yield harness


def test_histories_are_committed() -> None:
    names = {p.stem for p in HISTORIES}
    assert {f"rights_{g}_{k}" for g in ("v0", "v1") for k in KINDS} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    await replay(path, DsrWorkflow)


async def test_an_objection_waits_for_the_dpos_assessment_of_legitimate_interest(
    rights: Harness,
) -> None:
    handle = await rights.start("objection")
    summary = await rights.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    by_system = {s.system: s for s in summary.systems}
    assert by_system["newsletter"].outcome is SystemOutcome.DONE
    assert by_system["support"].outcome is SystemOutcome.MANUAL
    assert "Art. 21(1)" in (by_system["support"].reason or "")
    assert by_system["registrar"].outcome is SystemOutcome.SKIPPED  # contract only
    await handle.terminate("test over")


async def test_a_withdrawal_stops_the_registrars_consent_based_publication(
    rights: Harness,
) -> None:
    handle = await rights.start("consent_withdrawal")
    record: CompletionRecord = await handle.result()
    by_system = {s.system: s for s in record.systems}
    assert record.status is RequestStatus.COMPLETED
    assert by_system["registrar"].outcome is SystemOutcome.DONE
    assert by_system["newsletter"].outcome is SystemOutcome.DONE
    assert by_system["support"].outcome is SystemOutcome.SKIPPED  # nothing rests on consent
    registrar = next(s for s in rights.systems if s.name == "registrar")
    assert ("unsubscribe", [IdentifierType.EMAIL.value]) in registrar.calls


@pytest.mark.skipif(
    not os.environ.get("DSR_RECORD_HISTORIES"), reason="records histories: DSR_RECORD_HISTORIES=1"
)
@pytest.mark.parametrize("kind", KINDS)
async def test_record_histories(rights: Harness, kind: str) -> None:
    generation = os.environ.get("DSR_RIGHTS_GENERATION", "v1")
    # A consent-based category that is not direct marketing: the two generations plan it
    # apart (skip, then unsubscribe), so replaying the old history without the patch fails.
    rights.policy = _with_consent_based_ratings(rights.policy)
    params = request_input(kind, await rights.now(), tuning=TUNING)
    handle = await rights.client.start_workflow(
        DsrWorkflow.run, params, id=f"dsr-{params.request.request_id}", task_queue=rights.queue
    )
    if kind == "objection" and generation != "v0":  # held for the DPO: record it resolved
        from orchestrator.dpo import _decide

        await rights.reaches(handle, RequestStatus.NEEDS_ATTENTION)
        await _decide.resolve_system(
            rights.client,
            params.request.request_id,
            actor="dpo@example.se",
            system="support",
            outcome=SystemOutcome.DONE,
            note="assessed",
        )
    await handle.result()
    history = await handle.fetch_history()
    HISTORIES_DIR.mkdir(exist_ok=True)
    (HISTORIES_DIR / f"rights_{generation}_{kind}.json").write_text(history.to_json())
