"""Fuzzed intake: hostile records → 100 % dead-lettered with the expected reason, 0 workflows.

Two volumes: a slice of >= 1,000 generated events in every `make test`, and >= 10,000 under the
`fuzz` marker (`make fuzz`). The slice goes through the real `IntakeHandler` against the
session's real Temporal server (DLQ send collected in memory: the producer is the transport
seam) and then a good event must still start; the volume run exercises the pure validation.
A batch through the real broker and the real intake process is in
tests/integration/test_dead_letters.py (it needs that stack).
"""

from __future__ import annotations

import secrets
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client

from orchestrator.intake._handler import IncomingRecord, IntakeOutcome
from orchestrator.intake._validation import Rejected, headers_dict, validate_request
from tests.fuzz._events import (
    FAMILIES,
    MAX_BYTES,
    SIGNING_KEYS,
    SKEW,
    Case,
    corpus,
    encode,
    hostile,
    sign,
)
from tests.fuzz._events import valid_document as fuzz_document
from tests.intake.conftest import HandlerFactory

BATCH = 100


def _validate(case: Case) -> Rejected:
    try:
        validate_request(
            case.key,
            case.value,
            headers_dict(case.headers),
            SIGNING_KEYS,
            MAX_BYTES,
            clock_skew=SKEW,
        )
    except Rejected as rejected:
        return rejected
    raise AssertionError(f"accepted a hostile event ({case.family})")


def _run_pure(examples: int) -> Counter[str]:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(hostile(), min_size=BATCH, max_size=BATCH))
    def run(cases: list[Case]) -> None:
        for case in cases:
            rejected = _validate(case)
            assert rejected.reason is case.reason, (case.family, rejected.reason, rejected.detail)
            assert (
                "anna" not in rejected.detail.lower() and "lindqvist" not in rejected.detail.lower()
            )
            seen[case.family.split(":")[0]] += 1

    run()
    return seen


def test_the_corpus_is_refused_for_the_named_reasons() -> None:
    for case in corpus():
        assert _validate(case).reason is case.reason, case.family


@pytest.mark.fuzz
def test_ten_thousand_generated_events_are_all_refused() -> None:
    started = time.perf_counter()
    seen = _run_pure(100)
    elapsed = time.perf_counter() - started
    total = sum(seen.values())
    print(f"\nfuzz: {total} generated events refused in {elapsed:.1f} s; by family {dict(seen)}")
    assert total >= 10_000
    assert set(seen) == set(FAMILIES), "every family was generated"


@pytest.mark.integration
async def test_a_thousand_through_the_handler_dead_lettered_none_started(
    make_handler: HandlerFactory, intake_client: Client
) -> None:
    handler, collected = make_handler()
    cases: list[Case] = []

    @settings(
        max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.lists(hostile(), min_size=BATCH, max_size=BATCH))
    def gather(batch: list[Case]) -> None:
        cases.extend(batch)

    gather()
    cases += corpus()
    assert len(cases) >= 1_000
    prefix = f"fz{secrets.token_hex(3)}"
    for offset, case in enumerate(cases):
        outcome = await handler.handle(
            IncomingRecord(
                topic="dsr.requests.v1",
                partition=0,
                offset=offset,
                key=case.key,
                value=case.value,
                headers=case.headers,
            )
        )
        assert outcome is IntakeOutcome.DEAD_LETTERED, case.family
    assert len(collected.letters) == len(cases)
    for case, letter in zip(cases, collected.letters, strict=True):
        headers = dict(letter.headers)
        assert headers["dsr-dlq-reason"] == case.reason.value.encode(), case.family
        assert b"anna" not in letter.value and b"anna" not in b"".join(headers.values())
    # nothing reached Temporal: all workflow ids the cases could name are unknown to it
    started = await intake_client.count_workflows("WorkflowId STARTS_WITH 'dsr-fz-'")
    assert started.count == 0
    # and the handler still works: a good event starts its workflow
    rid = f"{prefix}-good-0001"
    good = encode(fuzz_document(rid))
    outcome = await handler.handle(
        IncomingRecord(
            topic="dsr.requests.v1",
            partition=0,
            offset=len(cases),
            key=rid.encode(),
            value=good,
            headers=sign(good),
        )
    )
    assert outcome is IntakeOutcome.STARTED
    await intake_client.get_workflow_handle(f"dsr-{rid}").terminate("fuzz test done")
